#!/usr/bin/env python3
"""gen_portfolio -- the reference portfolio of targets.md, deterministically.

usage: gen_portfolio.py [--accounts N] [--out DIR] [--per-file 100000]
                        [--now 2026-11-27T09:00:00+08:00] [--seed S]

Writes DIR/portfolio-0001.jsonl, ... (JSON Lines, --per-file events each,
the last one shorter) and prints a summary (events, files, events per
type) on stderr.  Stdlib only; the same arguments give the same bytes.

Each account (C-0000000 ...) has 6-24 monthly invoices (skewed towards
the short histories, so that the reference portfolio of 1,000,000
accounts has about 15 million events) and one payment behaviour:

  on time             pays on or a few days before the due date
  late                pays 1-25 days after it
  increasingly late   pays 3 days later each invoice: running out of cash
  stopped paying      paid the first half of its invoices, then nothing
  lump sum            pays every few months, one payment without
                      "invoice" covering the oldest open invoices
  partial             pays part of each invoice, the rest later

Late payers give promises to pay (kept: the payment falls in the promise's
span; broken: it comes after the break moment, or never); some invoices
are disputed (resolved with or without an upheld amount, or still open);
a few payments bounce (a reversal, then the money again); a few invoices
get a credit note.  Nothing lies after --now (the daemon's --test-clock).

An account's events are contiguous and in time order, and every amount is
checked here against a model of the account's state (§2.3 allocation), so
every line is valid per interfaces.md §2 against the state the earlier
lines leave: ingested in file order into an empty database, all are "ok".
"""
import argparse
import datetime
import os
import random
import sys

ZONE = datetime.timezone(datetime.timedelta(hours=8))  # Asia/Shanghai, no DST
SIZES = ("small", "medium", "large")
ROLES = {
    "small": ("owner", "president", "accountant"),
    "medium": ("general_manager", "cfo", "finance_director", "accountant"),
    "large": ("ap_manager", "financial_controller", "accountant", "sales"),
}
TERMS = {"small": (30,), "medium": (30, 45), "large": (45, 60, 90)}
BEHAVIOURS = (
    ("on_time", 30),
    ("late", 25),
    ("increasingly_late", 12),
    ("stopped", 13),
    ("lump_sum", 10),
    ("partial", 10),
)
DISPUTE_REASONS = ("quality", "goods not received", "price", "statement")


def ts(day, secs):
    """RFC 3339 of local date `day` (ordinal) at secs after midnight."""
    d = datetime.date.fromordinal(day)
    return "%04d-%02d-%02dT%02d:%02d:%02d+08:00" % (
        d.year, d.month, d.day, secs // 3600, secs // 60 % 60, secs % 60)


def date(day):
    return datetime.date.fromordinal(day).isoformat()


def add_months(d, k):
    m = d.month - 1 + k
    return datetime.date(d.year + m // 12, m % 12 + 1, min(d.day, 28))


class Account:
    """The state the daemon will have, as far as amounts are checked
    (§2.2 step 10): open amounts, unresolved disputes, payments."""

    def __init__(self):
        self.inv = {}    # invoice id -> [amount, open, due, issued, arrival, disputed]
        self.money = {}  # payment event id -> [(invoice id, amount)], reversed: None

    def balance(self):
        return sum(v[1] for v in self.inv.values())

    def order(self):
        return sorted(self.inv, key=lambda i: (self.inv[i][2], self.inv[i][3], self.inv[i][4]))

    def pay(self, eid, amount, invoice=None):
        apps = []
        if invoice is not None:
            take = min(amount, self.inv[invoice][1])
            if take:
                self.inv[invoice][1] -= take
                apps.append((invoice, take))
                amount -= take
        for i in self.order():
            if amount == 0:
                break
            take = min(amount, self.inv[i][1])
            if take:
                self.inv[i][1] -= take
                apps.append((i, take))
                amount -= take
        assert amount == 0, "payment above the balance"
        self.money[eid] = apps


class Gen:
    def __init__(self, now, seed):
        self.now = now
        self.now_day = now.date().toordinal()
        self.now_secs = now.hour * 3600 + now.minute * 60 + now.second
        self.seed = seed
        self.counts = {}

    def before_now(self, day, secs):
        return day < self.now_day or (day == self.now_day and secs <= self.now_secs)

    def account(self, n):
        """The lines of account n, in order."""
        r = random.Random("%d/%d" % (self.seed, n))
        acct = "C-%07d" % n
        size = r.choices(SIZES, (60, 30, 10))[0]
        behaviour = r.choices([b for b, _ in BEHAVIOURS], [w for _, w in BEHAVIOURS])[0]
        # 6-24 invoices, mostly short histories (mean about 7).
        ninv = 6 + int(19 * r.random() ** 12)
        terms = r.choice(TERMS[size])
        amount0 = r.choice((1, 2, 5)) * 10 ** r.randint(4, 7)

        # The account record first.
        head = ['"type":"account","id":"%s.0","account":"%s","name":"Customer %d",'
                '"currency":"CNY","size":"%s"' % (acct, acct, n, size)]
        if r.random() < 0.7:
            head.append('"risk":"%s"' % r.choice("ABCDE"))
        if r.random() < 0.3:
            head.append('"cash_in_day":%d' % r.randint(1, 28))
        if r.random() < 0.5:
            head.append('"distance_km":%d' % r.randint(0, 800))
        contacts = []
        for k in range(r.randint(1, 3)):
            role = r.choice(ROLES[size])
            contacts.append('{"role":"%s","name":"Contact %d-%d","phone":"+86 21 %04d %04d"}'
                            % (role, n, k, r.randint(0, 9999), r.randint(0, 9999)))
        head.append('"contacts":[%s]' % ",".join(contacts))
        t = r.random()
        if t < 0.03:
            head.append('"tags":["key_account"]')
        elif t < 0.05:
            head.append('"tags":["legal_hold"]')
        elif t < 0.15:
            head.append('"tags":["region.east","vip"]')

        # Plans: (day, secs, kind, fields...), sorted by time, then
        # checked against the model in that order.
        plans = []
        last_issued = datetime.date.fromordinal(self.now_day - r.randint(0, 29))
        for k in range(ninv):
            issued = add_months(last_issued, k - ninv + 1).toordinal()
            due = issued + terms
            amount = max(1, int(amount0 * r.uniform(0.5, 1.5)))
            inv = "%s.I%02d" % (acct, k)
            plans.append((issued, 0, "invoice", inv, amount, issued, due))
            if behaviour == "on_time":
                delay = -r.randint(0, 5)
            elif behaviour == "late":
                delay = r.randint(1, 25)
            elif behaviour == "increasingly_late":
                delay = 3 * k + r.randint(0, 3)
            elif behaviour == "stopped":
                delay = r.randint(0, 10) if k < ninv // 2 else None
            elif behaviour == "lump_sum":
                delay = None  # paid by the lump sums below
            else:
                delay = r.randint(0, 15)
            secs = r.randint(8, 17) * 3600 + r.randint(0, 3599)
            if r.random() < 0.04:
                # A credit note (write-down) of part of the invoice.
                plans.append((issued + r.randint(1, terms), secs - 1, "credit", inv,
                              max(1, amount // r.choice((10, 20)))))
            if r.random() < 0.05:
                # A dispute: resolved (upheld or not), or still open.
                dday = due + r.randint(-5, 5)
                plans.append((dday, secs, "dispute", inv, max(1, amount // r.choice((2, 4, 10)))))
                fate = r.random()
                if fate < 0.7:
                    rday = dday + r.randint(3, 30)
                    plans.append((rday, secs, "resolved", inv, r.random() < 0.5))
                    if delay is not None:
                        delay = max(delay, rday - due + r.randint(0, 5))
                elif delay is not None:
                    delay = None  # unpaid until the dispute is settled
            if delay is None:
                continue
            pday = due + delay
            if behaviour == "partial":
                part = max(1, amount * r.randint(3, 7) // 10)
                plans.append((pday, secs, "payment", inv, part))
                plans.append((pday + r.randint(10, 40), secs, "payment", inv, amount))
            else:
                plans.append((pday, secs, "payment", inv, amount))
            if delay > 3 and r.random() < 0.35:
                # A promise obtained a few days into the lateness.
                pat = due + r.randint(1, min(delay - 1, 10))
                if r.random() < 0.6:
                    pdue = max(pat, pday)             # kept
                else:
                    pdue = max(pat, pday - r.randint(3, 10))  # broken
                plans.append((pat, r.randint(9, 16) * 3600, "promise", amount, pdue))
            if r.random() < 0.01:
                # The payment bounces, and is sent again a week later.
                plans.append((pday + r.randint(1, 5), secs, "reversal"))
                plans.append((pday + r.randint(6, 12), secs, "payment", inv, amount))
        if behaviour == "lump_sum":
            first = add_months(last_issued, -ninv + 1).toordinal() + terms
            day = first + r.randint(20, 80)
            while day <= self.now_day:
                plans.append((day, 14 * 3600, "lump"))
                if r.random() < 0.5:
                    plans.append((day - r.randint(3, 10), 10 * 3600, "promise", None, day))
                day += r.randint(60, 110)
        if behaviour == "stopped" and ninv >= 4 and r.random() < 0.7:
            # Promises that were all broken.
            firstmiss = add_months(last_issued, ninv // 2 - ninv + 1).toordinal() + terms
            for k in range(r.randint(1, 2)):
                pat = firstmiss + 5 + 12 * k
                plans.append((pat, 11 * 3600, "promise", None, pat + r.randint(2, 7)))

        plans.sort(key=lambda p: (p[0], p[1]))
        return self.check(acct, head, plans)

    def check(self, acct, head, plans):
        """Replays the plans through the model; emits the valid lines."""
        out = ["{%s}" % ",".join(head)]
        m = Account()
        seq = 0
        last_payment = None
        arrival = 0

        def emit(kind, body):
            nonlocal seq
            seq += 1
            eid = "%s.%d" % (acct, seq)
            out.append('{"type":"%s","id":"%s","account":"%s",%s}' % (kind, eid, acct, body))
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return eid

        for p in plans:
            day, secs, kind = p[0], p[1], p[2]
            if not self.before_now(day, secs):
                continue
            at = ts(day, secs)
            if kind == "invoice":
                inv, amount, issued, due = p[3:]
                arrival += 1
                m.inv[inv] = [amount, amount, due, issued, arrival, 0]
                emit("invoice", '"invoice":"%s","amount":%d,"issued":"%s","due":"%s"'
                     % (inv, amount, date(issued), date(due)))
            elif kind == "payment":
                inv, amount = p[3], p[4]
                amount = min(amount, m.inv[inv][1])
                if amount == 0:
                    continue
                eid = emit("payment", '"invoice":"%s","amount":%d,"at":"%s"' % (inv, amount, at))
                m.pay(eid, amount, inv)
                last_payment = eid
            elif kind == "lump":
                # The oldest open invoices that fall due by then, whole.
                amount = sum(v[1] for v in m.inv.values() if v[2] <= day)
                if amount == 0:
                    continue
                eid = emit("payment", '"amount":%d,"at":"%s"' % (amount, at))
                m.pay(eid, amount)
                last_payment = eid
            elif kind == "credit":
                inv, amount = p[3], p[4]
                amount = min(amount, m.inv[inv][1])
                if amount == 0:
                    continue
                emit("credit", '"invoice":"%s","amount":%d,"at":"%s"' % (inv, amount, at))
                m.inv[inv][1] -= amount
            elif kind == "promise":
                amount, pdue = p[3], p[4]
                bal = m.balance()
                amount = bal if amount is None else min(amount, bal)
                if amount == 0:
                    continue
                emit("promise", '"amount":%d,"due":"%s","at":"%s"' % (amount, date(max(pdue, day)), at))
            elif kind == "dispute":
                inv, amount = p[3], p[4]
                v = m.inv[inv]
                amount = min(amount, v[1] - v[5])
                if amount <= 0:
                    continue
                emit("dispute", '"invoice":"%s","amount":%d,"reason":"%s","at":"%s"'
                     % (inv, amount, DISPUTE_REASONS[len(out) % 4], at))
                v[5] += amount
            elif kind == "resolved":
                inv, upheld = p[3], p[4]
                v = m.inv[inv]
                if v[5] == 0:
                    continue
                disputed_open = min(v[5], v[1])
                if upheld and disputed_open > 0:
                    emit("dispute_resolved", '"invoice":"%s","upheld_amount":%d,"at":"%s"'
                         % (inv, disputed_open, at))
                    v[1] -= disputed_open
                else:
                    emit("dispute_resolved", '"invoice":"%s","at":"%s"' % (inv, at))
                v[5] = 0
            elif kind == "reversal":
                if last_payment is None or m.money.get(last_payment) is None:
                    continue
                emit("reversal", '"event":"%s","reason":"cheque bounced","at":"%s"'
                     % (last_payment, at))
                for inv, amount in m.money[last_payment]:
                    m.inv[inv][1] += amount
                m.money[last_payment] = None
        self.counts["account"] = self.counts.get("account", 0) + 1
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=100000)
    ap.add_argument("--out", default="portfolio")
    ap.add_argument("--per-file", type=int, default=100000)
    ap.add_argument("--now", default="2026-11-27T09:00:00+08:00")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first", type=int, default=0, help="first account number")
    a = ap.parse_args()
    now = datetime.datetime.fromisoformat(a.now).astimezone(ZONE)
    os.makedirs(a.out, exist_ok=True)
    g = Gen(now, a.seed)
    nfile, nlines, total, buf = 0, 0, 0, []

    def flush():
        nonlocal nfile, nlines, buf
        nfile += 1
        with open(os.path.join(a.out, "portfolio-%04d.jsonl" % nfile), "w") as f:
            f.write("\n".join(buf))
            f.write("\n")
        buf, nlines = [], 0

    for n in range(a.first, a.first + a.accounts):
        for line in g.account(n):
            buf.append(line)
            nlines += 1
            total += 1
            if nlines == a.per_file:
                flush()
    if buf:
        flush()
    print("%d accounts, %d events (%.1f per account) in %d files of <= %d events: %s"
          % (a.accounts, total, total / max(1, a.accounts), nfile, a.per_file,
             ", ".join("%s %d" % kv for kv in sorted(g.counts.items()))), file=sys.stderr)


if __name__ == "__main__":
    main()
