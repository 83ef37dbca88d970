#!/usr/bin/env python3
"""Writes examples/portfolio.jsonl: the example portfolio of the README's
walkthrough.

Deterministic and stdlib only: run it again and the file is byte for byte
the same.  `python3 examples/gen_portfolio.py [OUT]` (default: next to
this script).

The setting: a Chinese B2B supplier's receivables in CNY (amounts in fen),
portfolio zone Asia/Shanghai, seen from the start clock
T0 = 2026-03-02T09:00:00+08:00 (a Monday).  Every `issued` and `at` lies
on or before T0; `due` dates may lie after it (invoices not yet due).

The accounts, by what they show at T0 and in the week after it (the
README's walkthrough; dunnd.rules(5), rules/):

  C-1001..1014      good payers: monthly invoices settled on or before
                    `due` (within grace_days); the open ones fall due from
                    2026-03-11 on (reminders from 2026-03-08)
  C-1015, C-1016    fully settled; C-1016 overpaid (credit balance)
  C-1017            a credit note for returned goods, the rest on time
  C-1018            pays a day or two late (within grace); only an
                    accountant and a salesman on file
  C-1101 first miss six invoices settled on time, the February one falls
                    due 2026-03-04 and is not paid: reminder at T0, then
                    negotiation and the alert check-dispute-first (P5)
  C-1102 new        no history, an invoice due 2026-03-03: reminder, then
                    negotiation without the alert
  C-1201 worsening  days late 2, 9, 17, 26, 36, then open 25 days:
                    late_trend above 5, pressure by rule `worsening` at T0
  C-1202 worsening  days late 0, 8, 17, 27, 39, then open 10 days at T0:
                    rule `worsening` on 2026-03-07 (15 days overdue)
  C-1301 promises   two promises broken in the last 90 days: pressure by
                    rule `promises-broken` at T0 (P4)
  C-1302 promises   one broken, one pending (due 2026-03-04): held in
                    negotiation, pressure when it breaks on 2026-03-06
  C-1303 kept       a promise kept by its payment; nothing overdue
  C-1401 reversal   a payment bounced (reversal): the invoice is open again,
                    20 days overdue at T0
  C-1402, C-1403    steady late payers, 17 and 14 days overdue at T0;
                    C-1402's president has an email but no phone (calls
                    ask for the president), C-1403 has only an accountant
                    on file (alert find-decision-maker, P6)
  C-1404 long       36 days overdue: pressure by rule `long` at T0
  C-1405            no contacts (tasks carry "contact": null), 6 days late
  C-1501 dispute    the undisputed part paid, the rest disputed: stays
                    current, alert dispute-review (P8)
  C-1502 dispute    part disputed, the rest unpaid: negotiation and review
  C-1503 resolved   a dispute resolved with an upheld (credited) part
  C-1601 legal      a large account 102 days overdue: legal at T0
  C-1602 legal_hold a large account 150 days overdue tagged legal_hold:
                    dunnd stands down, it never leaves `current`
  C-1603 key        tagged key_account, 24 days overdue: never pressured,
                    alert key-account-review at 30 days
  C-1604 paused     paused (a restructuring agreed by sales): no tasks
"""
import datetime as dt
import json
import os
import sys

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
TODAY = T0.date()
LAST_PAY_DAY = TODAY - dt.timedelta(days=1)  # money and promises before T0's date
YUAN = 100  # fen per yuan

accounts = []  # in creation order; each keeps its own events


def day(s):
    return dt.date.fromisoformat(s)


def at(d, k=0):
    """A timestamp on date d during office hours, varied by k."""
    minutes = 9 * 60 + 30 + (k * 47) % (7 * 60)
    return "%sT%02d:%02d:00+08:00" % (d.isoformat(), minutes // 60, minutes % 60)


def sort_key(ev):
    """Each account's events in time order: invoices at the start of their
    issue day, money, promises and disputes at their `at`; the opening
    account event first, later account updates last."""
    if ev["type"] == "account":
        return "" if ev["id"].endswith("-open") else "~"
    if ev["type"] == "invoice":
        return ev["issued"] + "T00:00:00"
    return ev["at"][:19]


class Account:
    def __init__(self, num, name, size, contacts, **extra):
        self.id = "C-%d" % num
        self.num = num
        self.n = 0  # event counter within the account
        self.events = []
        accounts.append(self)
        ev = {"type": "account", "id": "%s-open" % self.id, "account": self.id,
              "name": name, "currency": "CNY", "size": size}
        ev.update(extra)
        if contacts:
            ev["contacts"] = contacts
        self.emit(ev)

    def emit(self, ev):
        self.events.append(ev)

    def eid(self, kind):
        self.n += 1
        return "%s-%s%02d" % (self.id, kind, self.n)

    def invoice(self, inv, amount, issued, due):
        assert issued <= TODAY and due >= issued
        self.emit({"type": "invoice", "id": self.eid("inv"), "account": self.id,
                  "invoice": inv, "amount": amount, "issued": issued.isoformat(),
                  "due": due.isoformat()})
        return inv

    def pay(self, amount, when, inv=None, k=0, **extra):
        assert when <= LAST_PAY_DAY
        ev = {"type": "payment", "id": self.eid("pay"), "account": self.id,
              "amount": amount, "at": at(when, k)}
        if inv:
            ev["invoice"] = inv
        ev.update(extra)
        self.emit(ev)
        return ev["id"]

    def promise(self, amount, due, when, k=0):
        assert when <= LAST_PAY_DAY and due >= when
        self.emit({"type": "promise", "id": self.eid("prm"), "account": self.id,
                  "amount": amount, "due": due.isoformat(), "at": at(when, k)})

    def dispute(self, inv, amount, reason, when, k=0):
        self.emit({"type": "dispute", "id": self.eid("dsp"), "account": self.id,
                  "invoice": inv, "amount": amount, "reason": reason, "at": at(when, k)})

    def resolved(self, inv, when, upheld=None, k=0):
        ev = {"type": "dispute_resolved", "id": self.eid("res"), "account": self.id,
              "invoice": inv, "at": at(when, k)}
        if upheld:
            ev["upheld_amount"] = upheld
        self.emit(ev)

    def credit(self, inv, amount, when, k=0):
        self.emit({"type": "credit", "id": self.eid("crn"), "account": self.id,
                  "invoice": inv, "amount": amount, "at": at(when, k)})

    def reverse(self, event, reason, when, k=0):
        self.emit({"type": "reversal", "id": self.eid("rev"), "account": self.id,
                  "event": event, "reason": reason, "at": at(when, k)})

    def update(self, **fields):
        ev = {"type": "account", "id": self.eid("upd"), "account": self.id}
        ev.update(fields)
        self.emit(ev)


def contact(role, name, num, k, email=None, phone=True):
    c = {"role": role, "name": name}
    if phone:
        c["phone"] = "+86 1%02d %04d %04d" % (30 + k, num, 1000 + 37 * k)
    if email:
        c["email"] = email
    return c


def amount_of(base, num, k):
    """An invoice amount near base yuan, varied per account and month, in fen."""
    return (base * (94 + (num * 7 + k * 5) % 13) // 100) * YUAN


def month_issue(first, k, dom):
    y, m = first
    m += k
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    return dt.date(y, m, dom)


def monthly(acct, first, count, dom, terms, base, late):
    """count monthly invoices from month `first` on day dom, net `terms`.
    late[k] = days after due that invoice k is paid (negative: early;
    None: never).  An invoice whose payment day would be on or after T0's
    date stays open.  Returns [(invoice id, amount, issued, due), ...]."""
    out = []
    for k in range(count):
        issued = month_issue(first, k, dom)
        if issued > TODAY:
            break
        due = issued + dt.timedelta(days=terms)
        inv = "INV-%d-%02d%02d" % (acct.num, issued.year % 100, issued.month)
        amt = amount_of(base, acct.num, k)
        acct.invoice(inv, amt, issued, due)
        out.append((inv, amt, issued, due))
        d = late[k % len(late)]
        if d is not None:
            when = max(issued, due + dt.timedelta(days=d))
            if when <= LAST_PAY_DAY:
                acct.pay(amt, when, inv, k)
    return out


SMALL = "small"
MEDIUM = "medium"
LARGE = "large"

# --- Good payers ---------------------------------------------------------
# (num, name, size, risk, issue day, terms, base yuan, early days cycle,
#  contacts, extra account fields)
GOOD = [
    (1001, "Yiwu Hongda Hardware Trading", SMALL, "B", 12, 30, 18600, [-3, -1, 0, -2],
     [("owner", "Chen Hongda"), ("accountant", "Lu Mei")], {"cash_in_day": 10, "distance_km": 12}),
    (1002, "Foshan Meijia Ceramics Studio", SMALL, "A", 15, 30, 9200, [-5, -4, -6],
     [("president", "Liang Meijia")], {"distance_km": 35}),
    (1003, "Kunshan Ruifeng Printing", SMALL, None, 20, 30, 26400, [0, 1, -1, 2],
     [("accountant", "Zhou Li"), ("owner", "Xu Ruifeng")], {}),
    (1004, "Suzhou Tianrun Precision Machinery", MEDIUM, "A", 10, 60, 142000, [-2, -3, 0],
     [("cfo", "Gu Wenjie"), ("general_manager", "Shen Tianrun")], {"cash_in_day": 25, "distance_km": 28}),
    (1005, "Ningbo Haitong Plastics", MEDIUM, "B", 18, 30, 96500, [-1, 0, -2, 1],
     [("finance_director", "Ying Haitong"), ("accountant", "Bao Jing")], {"distance_km": 150}),
    (1006, "Hefei Jinyuan Electronics", MEDIUM, "B", 9, 45, 118000, [0, -4, -2],
     [("sales", "Tao Ming"), ("cfo", "Jiang Yuan")], {}),
    (1007, "Shenzhen Pengcheng Electronics Group", LARGE, "A", 14, 60, 1260000, [-1, 0, 0, -2],
     [("ap_manager", "Huang Xiaoling"), ("financial_controller", "Deng Wei")], {"cash_in_day": 15, "distance_km": 1400}),
    (1008, "Shanghai Pudong Retail Holdings", LARGE, "A", 22, 30, 870000, [-4, -2, -3],
     [("financial_controller", "Qian Jun"), ("ap_manager", "Lu Yan")], {"distance_km": 170}),
    (1009, "Changsha Xiangjiang Building Materials", MEDIUM, "C", 16, 30, 64300, [1, 2, 0, 1],
     [("general_manager", "Peng Xiang")], {"distance_km": 890}),
    (1010, "Xiamen Lvzhou Logistics", MEDIUM, "A", 25, 30, 58800, [-2, -2, -1],
     [("cfo", "Lin Lvzhou"), ("other", "Front desk")], {}),
    (1011, "Wenzhou Xinyuan Shoe Materials", SMALL, "C", 11, 30, 12400, [0, -1, 2, 0],
     [("owner", "Pan Xinyuan")], {"distance_km": 360}),
    (1012, "Beijing Jingcheng Construction Group", LARGE, "B", 8, 45, 2150000, [-3, 0, -1],
     [("ap_manager", "Zhao Lei"), ("accountant", "Sun Qian")], {"distance_km": 1200}),
    (1013, "Dongguan Jiale Packaging", SMALL, "B", 26, 30, 7300, [-1, 0, 1],
     [("president", "He Jiale"), ("owner", "He Jiahui")], {}),
    (1014, "Chengdu Shuguang Food Distribution", MEDIUM, "B", 13, 30, 83600, [0, -2, -3, -1],
     [("general_manager", "Luo Shuguang"), ("finance_director", "Yang Fan")], {"cash_in_day": 5}),
]


def good_payers():
    for (num, name, size, risk, dom, terms, base, early, people, extra) in GOOD:
        cs = [contact(r, nm, num, k, "%s@c%d.example.cn" % (r.replace("_", "."), num) if k % 2 else None)
              for k, (r, nm) in enumerate(people)]
        if risk:
            extra = dict(extra, risk=risk)
        a = Account(num, name, size, cs, **extra)
        monthly(a, (2025, 8), 7, dom, terms, base, early)


# Fully settled good payers: quarterly orders, nothing open at T0.
def settled_payers():
    a = Account(1015, "Wuxi Huaxin Auto Parts", MEDIUM,
                [contact("finance_director", "Hua Xin", 1015, 0),
                 contact("general_manager", "Mao Dong", 1015, 1)], risk="A")
    for k, (iss, amt, early) in enumerate([("2025-07-03", 210000, -2), ("2025-10-09", 245000, 0),
                                           ("2026-01-06", 198000, -1)]):
        issued = day(iss)
        due = issued + dt.timedelta(days=30)
        inv = a.invoice("INV-1015-%02d%02d" % (issued.year % 100, issued.month), amt * YUAN, issued, due)
        a.pay(amt * YUAN, due + dt.timedelta(days=early), inv, k)

    # A customer that overpaid (a round-sum transfer): credit balance.
    a = Account(1016, "Shaoxing Lanting Textiles", SMALL,
                [contact("owner", "Wang Lanting", 1016, 0, "boss@c1016.example.cn")], risk="A")
    monthly(a, (2025, 10), 4, 5, 30, 21000, [-2, -1, -3, -2])
    a.pay(30000 * YUAN, day("2026-02-27"), None, 9, allow_credit_balance=True)

    # Only an accountant on file: tasks go to the first contact listed.
    a = Account(1018, "Taiyuan Jinyang Mining Equipment", MEDIUM,
                [contact("accountant", "Hao Jinyang", 1018, 0, "ap@c1018.example.cn"),
                 contact("sales", "Bi Qiang", 1018, 1)], risk="E")
    monthly(a, (2025, 9), 6, 17, 30, 73900, [1, 2, 0, 2, 1, 2])

    # A credit note for returned goods, the rest paid on time.
    a = Account(1017, "Quanzhou Haibin Tea Trading", SMALL,
                [contact("president", "Su Haibin", 1017, 0)], cash_in_day=20)
    inv1 = a.invoice("INV-1017-2511", 4560000, day("2025-11-04"), day("2025-12-04"))
    a.credit(inv1, 320000, day("2025-11-20"))
    a.pay(4240000, day("2025-12-03"), inv1, 1)
    inv2 = a.invoice("INV-1017-2512", 3980000, day("2025-12-04"), day("2026-01-03"))
    a.pay(3980000, day("2026-01-02"), inv2, 2)
    a.invoice("INV-1017-2602", 4120000, day("2026-02-10"), day("2026-03-12"))

    # A promise kept: late once, promised, paid in full on the promised day.
    a = Account(1303, "Tianjin Binhai Chemicals", MEDIUM,
                [contact("accountant", "Ma Lin", 1303, 0),
                 contact("cfo", "Guo Binhai", 1303, 1, "cfo@c1303.example.cn")], risk="C")
    invs = monthly(a, (2025, 9), 6, 19, 30, 77000, [0, -1, None, -2, -2, 5])
    inv, amt, issued, due = invs[2]  # due 2025-12-19, unpaid
    a.promise(amt, day("2026-01-09"), day("2025-12-29"), 3)
    a.pay(amt, day("2026-01-09"), inv, 4)


# --- Accounts in trouble -------------------------------------------------
def first_misses():
    # P5: always paid on time, now misses the invoice due 2026-03-04.
    a = Account(1101, "Hangzhou Xihu Digital Commerce", MEDIUM,
                [contact("accountant", "Fang Qing", 1101, 0, "ap@c1101.example.cn"),
                 contact("finance_director", "Ye Xihu", 1101, 1),
                 contact("general_manager", "Shao Ming", 1101, 2)],
                risk="A", cash_in_day=28, distance_km=8)
    monthly(a, (2025, 8), 7, 2, 30, 132000, [-1, 0, -2, 1, 0, -1, None])

    # A new customer: one invoice, due the day after T0.
    a = Account(1102, "Zhengzhou Zhongyuan Cold Chain", MEDIUM,
                [contact("general_manager", "Du Zhongyuan", 1102, 0)], distance_km=900)
    a.invoice("INV-1102-2602", 6850000, day("2026-02-01"), day("2026-03-03"))


def worsening():
    # Days late 2, 9, 17, 26, 36 and an open invoice 25 days overdue.
    a = Account(1201, "Wuhan Changjiang Steel Trading", LARGE,
                [contact("ap_manager", "Cai Changjiang", 1201, 0),
                 contact("sales", "Ding Hao", 1201, 1)], risk="D", distance_km=820)
    late = [2, 9, 17, 26, 36, None]
    for k, l in enumerate(late):
        due = month_issue((2025, 9), k, 5)
        issued = due - dt.timedelta(days=30)
        inv = a.invoice("INV-1201-%02d%02d" % (issued.year % 100, issued.month),
                        amount_of(640000, 1201, k), issued, due)
        if l is not None:
            a.pay(amount_of(640000, 1201, k), due + dt.timedelta(days=l), inv, k)

    # Days late 0, 8, 17, 27, 39 and an open invoice due 2026-02-20.
    a = Account(1202, "Jinan Taishan Pharma Supply", MEDIUM,
                [contact("cfo", "Kong Taishan", 1202, 0),
                 contact("general_manager", "Meng Qi", 1202, 1)], risk="C")
    late = [0, 8, 17, 27, 39, None]
    for k, l in enumerate(late):
        due = month_issue((2025, 9), k, 20)
        issued = due - dt.timedelta(days=30)
        inv = a.invoice("INV-1202-%02d%02d" % (issued.year % 100, issued.month),
                        amount_of(91000, 1202, k), issued, due)
        if l is not None:
            a.pay(amount_of(91000, 1202, k), due + dt.timedelta(days=l), inv, k)


def promise_breakers():
    # Two promises broken within 90 days (P4).
    a = Account(1301, "Guangzhou Yuexiu Home Appliances", MEDIUM,
                [contact("finance_director", "Tan Yuexiu", 1301, 0),
                 contact("cfo", "Xie Bo", 1301, 1)], risk="D", distance_km=1300)
    invs = monthly(a, (2025, 10), 5, 8, 30, 156000, [3, 6, None, None, None])
    inv, amt, issued, due = invs[2]  # due 2026-01-07
    a.promise(amt, day("2026-01-20"), day("2026-01-12"), 1)
    a.promise(amt // 2, day("2026-02-10"), day("2026-02-02"), 2)

    # One broken, one pending until the end of 2026-03-05 (+1d grace).
    a = Account(1302, "Chongqing Shancheng Automotive", LARGE,
                [contact("financial_controller", "Ran Shancheng", 1302, 0),
                 contact("ap_manager", "Wei Lan", 1302, 1, "ap@c1302.example.cn")],
                risk="C", distance_km=1600)
    invs = monthly(a, (2025, 8), 7, 13, 30, 455000, [1, 4, 2, 6, 3, None, None])
    inv, amt, issued, due = invs[5]  # due 2026-02-12
    a.promise(amt, day("2026-02-20"), day("2026-02-14"), 5)
    a.promise(amt, day("2026-03-04"), day("2026-02-26"), 6)


def reversal_and_slow():
    # A payment that bounced: the invoice is open again at its old age.
    a = Account(1401, "Hefei Binhu Furniture", SMALL,
                [contact("owner", "Liu Binhu", 1401, 0), contact("accountant", "Qi Na", 1401, 1)],
                risk="C", distance_km=460)
    invs = monthly(a, (2025, 8), 6, 11, 30, 23800, [3, 1, 4, 2, 5, -1])
    inv, amt, issued, due = invs[5]  # due 2026-02-10, paid 02-09
    pid = "%s-pay%02d" % (a.id, a.n)
    a.reverse(pid, "cheque bounced: insufficient funds", day("2026-02-16"), 2)

    # Steady late payers (days late ~10-16, no trend).
    # The president is reached by email only: calls go to the office
    # manager and ask for the president (P6).
    a = Account(1402, "Nanchang Hongcheng Textiles", SMALL,
                [contact("president", "Tu Hongcheng", 1402, 0, "tu@c1402.example.cn", phone=False),
                 contact("other", "Rao Li", 1402, 1)], risk="C")
    monthly(a, (2025, 9), 6, 14, 30, 31500, [12, 15, 10, 14, None, None])
    # Only the accountant on file: no decision-maker (alert
    # find-decision-maker, P6).
    a = Account(1403, "Shijiazhuang Huabei Pharma", MEDIUM,
                [contact("accountant", "Li Xue", 1403, 0)], risk="C")
    monthly(a, (2025, 9), 6, 17, 30, 104000, [11, 9, 14, 12, None, None])

    # A small shop without contacts (tasks carry "contact": null), two
    # invoices paid a little late, the third 5 days overdue.
    a = Account(1405, "Lanzhou Silu Trading", SMALL, [], risk="C")
    monthly(a, (2025, 11), 3, 25, 30, 8600, [4, 3, None])

    # 35 days overdue: rule `long` at T0.
    a = Account(1404, "Harbin Bingcheng Dairy Equipment", MEDIUM,
                [contact("cfo", "Yu Bingcheng", 1404, 0)], risk="D", distance_km=2400)
    monthly(a, (2025, 9), 5, 26, 30, 67500, [8, 12, 9, None, None])


def disputes():
    # The undisputed part paid, the rest disputed: nothing undisputed overdue.
    a = Account(1501, "Qingdao Haiyun Marine Supplies", MEDIUM,
                [contact("finance_director", "Sha Haiyun", 1501, 0)], risk="B")
    monthly(a, (2025, 10), 3, 7, 30, 88000, [-1, 0, 0])
    inv = a.invoice("INV-1501-2601", 12000000, day("2026-01-07"), day("2026-02-06"))
    a.dispute(inv, 4000000, "quality: two pallets of rope damaged in transit", day("2026-02-03"))
    a.pay(8000000, day("2026-02-06"), inv, 3)

    # Part disputed, the rest unpaid and overdue.
    a = Account(1502, "Kunming Dianchi Flower Exports", SMALL,
                [contact("owner", "Bai Dianchi", 1502, 0)], risk="C", distance_km=2000)
    monthly(a, (2025, 7), 6, 18, 30, 15800, [2, 1, 3, 0, 1, 2])
    inv = a.invoice("INV-1502-2601", 2640000, day("2026-01-18"), day("2026-02-17"))
    a.dispute(inv, 580000, "statement disagreement: returned crates not credited", day("2026-02-18"), 1)

    # A dispute resolved in December with an upheld part (credited).
    a = Account(1503, "Dalian Xinghai Seafood Processing", LARGE,
                [contact("ap_manager", "Sui Xinghai", 1503, 0),
                 contact("financial_controller", "Kang Jie", 1503, 1)], risk="B", distance_km=1100)
    invs = monthly(a, (2025, 9), 6, 25, 45, 540000, [-2, None, -1, 0, -3, -1])
    inv, amt, issued, due = invs[1]  # issued 2025-10-25, due 2025-12-09
    a.dispute(inv, 120000 * YUAN, "goods not received: one container short", day("2025-11-28"), 1)
    a.resolved(inv, day("2025-12-08"), upheld=80000 * YUAN, k=2)
    a.pay(amt - 80000 * YUAN, day("2025-12-09"), inv, 3)


def big_ones():
    # 102 days overdue, large: legal at T0 (after negotiation and pressure).
    a = Account(1601, "Nanjing Jinling Pharmaceutical Distribution", LARGE,
                [contact("ap_manager", "Gao Jinling", 1601, 0),
                 contact("financial_controller", "Shi Rong", 1601, 1, "fc@c1601.example.cn")],
                risk="E", distance_km=300)
    monthly(a, (2025, 8), 5, 21, 30, 1380000, [7, 15, None, None, None])

    # 150 days overdue, under legal hold: dunnd stands down.
    a = Account(1602, "Shenyang Beifang Heavy Industry", LARGE,
                [contact("financial_controller", "Tong Beifang", 1602, 0)],
                risk="E", distance_km=2100)
    monthly(a, (2025, 8), 4, 3, 30, 2460000, [5, None, None, None])
    a.update(tags=["legal_hold"])

    # A key account 24 days overdue: management, not pressure.
    a = Account(1603, "Shanghai Jiangnan Shipbuilding Supply", LARGE,
                [contact("ap_manager", "Jiang Nan", 1603, 0),
                 contact("financial_controller", "Lou Wen", 1603, 1)],
                risk="B", tags=["key_account"], distance_km=160)
    monthly(a, (2025, 9), 6, 7, 30, 3120000, [-2, 0, 3, 5, None, None])

    # Paused while sales negotiate a restructuring.
    a = Account(1604, "Xi'an Gucheng Tourism Services", MEDIUM,
                [contact("general_manager", "Qin Gucheng", 1604, 0)], risk="D")
    monthly(a, (2025, 10), 4, 20, 30, 47500, [10, None, None, None])
    a.update(paused=True)


def main():
    good_payers()
    settled_payers()
    first_misses()
    worsening()
    promise_breakers()
    reversal_and_slow()
    disputes()
    big_ones()
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "portfolio.jsonl")
    with open(out, "w", encoding="ascii", newline="\n") as f:
        for a in accounts:
            for _, ev in sorted(enumerate(a.events), key=lambda p: (sort_key(p[1]), p[0])):
                f.write(json.dumps(ev, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
