#!/usr/bin/env python3
"""Writes the event-line corpora (interfaces.md §2, §2.1, §2.2 steps 1-6).

    python3 tests/corpus/gen_events.py     # rewrites the two .jsonl files

events-bad.jsonl: one object per line, each one input line that must be
rejected, with what the result must say:
    "input"          the line (without line end), as a JSON string, or
    "input_hex"      the line as hex, when it holds bytes a JSON string
                     cannot (invalid UTF-8, a raw NUL);
    "pad_to"         (optional) append spaces until the line has that many
                     bytes (for the 1 MiB limit);
    "field"          the expected field, null for a line error (step 1);
    "error_contains" a substring of the expected error text;
    "why"            what the row tests.
events-good.jsonl: lines that must be accepted, with "input"/"input_hex",
"pad_to" as above, "why", and "canonical": the expected canonical JSON
(members sorted at every depth, no whitespace, strings with only '"',
'\\' and U+0001-U+001F escaped), computed here by Python's json module as
an oracle independent of daemon/event.c.

Feed a row to dunnd as one line (add LF) of an ingest batch: a good row is
ok (or a later step's error: references are not set up here), a bad row is
error with that field and text.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
AT = "2026-01-05T10:00:00+08:00"

BASE = {
    "account": {"type": "account", "id": "e-acc", "account": "C-1",
                "name": "Acme Ltd", "currency": "CNY", "size": "small"},
    "invoice": {"type": "invoice", "id": "e-inv", "account": "C-1",
                "invoice": "I-1", "amount": 100000, "issued": "2026-01-01",
                "due": "2026-02-01"},
    "payment": {"type": "payment", "id": "e-pay", "account": "C-1",
                "amount": 50000, "at": AT},
    "credit": {"type": "credit", "id": "e-cre", "account": "C-1",
               "invoice": "I-1", "amount": 1000, "at": AT},
    "promise": {"type": "promise", "id": "e-pro", "account": "C-1",
                "amount": 20000, "due": "2026-02-10", "at": AT},
    "dispute": {"type": "dispute", "id": "e-dis", "account": "C-1",
                "invoice": "I-1", "amount": 3000, "reason": "damaged goods",
                "at": AT},
    "dispute_resolved": {"type": "dispute_resolved", "id": "e-res",
                         "account": "C-1", "invoice": "I-1", "at": AT},
    "outcome": {"type": "outcome", "id": "e-out", "task": "T-000001",
                "result": "reached", "at": AT},
    "reversal": {"type": "reversal", "id": "e-rev", "account": "C-1",
                 "event": "e-pay", "at": AT},
}

FULL = {
    "account": {"risk": "B", "cash_in_day": 15, "distance_km": 120,
                "paused": False,
                "contacts": [{"role": "owner", "name": "Wang Wei",
                              "phone": "+86 10 1234 5678"},
                             {"role": "cfo", "name": "Li Na",
                              "email": "li.na@example.com",
                              "phone": "123"}],
                "tags": ["vip", "north"]},
    "invoice": {"currency": "CNY"},
    "payment": {"invoice": "I-1", "allow_credit_balance": True,
                "currency": "CNY"},
    "credit": {"currency": "CNY"},
    "promise": {"task": "T-000001", "currency": "CNY"},
    "dispute": {"currency": "CNY"},
    "dispute_resolved": {"upheld_amount": 1500, "currency": "CNY"},
    "outcome": {"note": "will pay on Friday"},
    "reversal": {"reason": "cheque bounced"},
}

MAX = 1048576
bad = []
good = []


def dump(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ev(kind, drop=(), **changes):
    """The base event of a type with members dropped, changed or added."""
    d = {k: v for k, v in BASE[kind].items() if k not in drop}
    for k, v in changes.items():
        d[k] = v
    return d


def B(line, field, contains, why, pad_to=None):
    row = {}
    if isinstance(line, bytes):
        row["input_hex"] = line.hex()
    else:
        if not isinstance(line, str):
            line = dump(line)
        row["input"] = line
    if pad_to is not None:
        row["pad_to"] = pad_to
    row.update({"field": field, "error_contains": contains, "why": why})
    bad.append(row)


def G(line, why, pad_to=None):
    if not isinstance(line, str):
        line = dump(line)
    canon = json.dumps(json.loads(line), sort_keys=True,
                       separators=(",", ":"), ensure_ascii=False)
    row = {"input": line}
    if pad_to is not None:
        row["pad_to"] = pad_to
    row.update({"canonical": canon, "why": why})
    good.append(row)


PAY = dump(BASE["payment"])
PAYB = PAY.encode()

# --- Step 1: line errors (field null) ------------------------------------
B(PAY, None, "line too long", "one byte over 1 MiB (spaces)", pad_to=MAX + 1)
B(PAY, None, "line too long", "well over 1 MiB", pad_to=2 * MAX)
B(PAYB[:-2] + b'\x80"}', None, "not UTF-8", "lone continuation byte")
B(b'{"type":"payment","id":"\xc0\xaf"}', None, "not UTF-8", "overlong /")
B(b'{"type":"payment","id":"\xe0\x80\xaf"}', None, "not UTF-8",
  "overlong 3-byte")
B(b'{"type":"payment","name":"\xed\xa0\x80"}', None, "not UTF-8",
  "raw lone surrogate U+D800")
B(b'{"type":"payment","name":"\xed\xbf\xbf"}', None, "not UTF-8",
  "raw lone surrogate U+DFFF")
B(b'{"type":"payment","name":"\xf4\x90\x80\x80"}', None, "not UTF-8",
  "above U+10FFFF")
B(b'{"type":"payment","name":"\xf5\x80\x80\x80"}', None, "not UTF-8",
  "byte F5")
B(b'{"type":"payment","name":"\xff"}', None, "not UTF-8", "byte FF")
B(b'{"type":"payment","name":"\xe2\x82"}', None, "not UTF-8",
  "truncated 3-byte sequence")
B(b'{"type":"payment","\xc3":1}', None, "not UTF-8",
  "truncated sequence in a member name")
B(PAYB + b'\xe2\x82', None, "not UTF-8", "truncated at end of line")
B(b'\xef\xbb\xbf' + PAYB, None, "byte order mark", "BOM before the object")
B(b'\xef\xbb\xbf' + PAYB[:-1] + b',"x":"\xff"}', None, "not UTF-8",
  "invalid UTF-8 outranks the BOM")
B(b'\xef\xbb\xbf{', None, "byte order mark", "BOM outranks malformed JSON")
B('{', None, "malformed JSON", "just a brace")
B(PAY[:-1], None, "malformed JSON", "object not closed")
B(PAY[:28], None, "malformed JSON", "cut inside a string")
B(PAY[:-1] + ',}', None, "malformed JSON", "trailing comma in object")
B('{,}', None, "malformed JSON", "comma alone")
B(PAY[:-1] + ',,"x":1}', None, "malformed JSON", "double comma")
B('{"type" "payment"}', None, "malformed JSON", "missing colon")
B('{"type"::"payment"}', None, "malformed JSON", "double colon")
B("{'type':'payment'}", None, "malformed JSON", "single quotes")
B('{type:"payment"}', None, "malformed JSON", "bare member name")
B('{"type":"payment","amount":01}', None, "malformed JSON", "leading zero")
B('{"type":"payment","amount":1.}', None, "malformed JSON",
  "fraction without digits")
B('{"type":"payment","amount":.5}', None, "malformed JSON",
  "fraction without integer part")
B('{"type":"payment","amount":-}', None, "malformed JSON", "minus alone")
B('{"type":"payment","amount":1e}', None, "malformed JSON",
  "exponent without digits")
B('{"type":"payment","amount":+1}', None, "malformed JSON", "plus sign")
B('{"type":"payment","amount":0x10}', None, "malformed JSON", "hex number")
B('{"type":"payment","amount":NaN}', None, "malformed JSON", "NaN")
B('{"type":"payment","amount":Infinity}', None, "malformed JSON",
  "Infinity")
B('{"type":"payment","paused":tru}', None, "malformed JSON",
  "truncated literal")
B('{"type":"payment","paused":TRUE}', None, "malformed JSON",
  "upper-case literal")
B('{"type":"payment","x":nul}', None, "malformed JSON", "truncated null")
B('{"type":"payment","name":"a\\x"}', None, "malformed JSON",
  "unknown escape \\x")
B('{"type":"payment","name":"a\\u12"}', None, "malformed JSON",
  "short \\u escape")
B('{"type":"payment","name":"a\\u12G4"}', None, "malformed JSON",
  "non-hex \\u escape")
B('{"type":"payment","name":"a\\U0041"}', None, "malformed JSON",
  "upper-case \\U")
B('{"type":"payment","name":"a\tb"}', None, "malformed JSON",
  "raw tab inside a string")
B('{"type":"payment","name":"a\x01b"}', None, "malformed JSON",
  "raw U+0001 inside a string")
B(b'{"type":"payment","name":"a\x00b"}', None, "U+0000",
  "raw NUL inside a string")
B(b'{"type":"payment"}\x00', None, "malformed JSON", "raw NUL after object")
B(PAY + ' {}', None, "malformed JSON", "two objects")
B(PAY + 'x', None, "malformed JSON", "text after the object")
B(PAY + '}', None, "malformed JSON", "extra brace")
B('{"type":"payment","tags":["a","b"}', None, "malformed JSON",
  "array closed by a brace")
B('{"type":"payment","x":{"a":1]}', None, "malformed JSON",
  "object closed by a bracket")
B('{"type":"payment","tags":["a",]}', None, "malformed JSON",
  "trailing comma in array")
B('/* c */' + PAY, None, "malformed JSON", "comment")
B(PAY[:-1] + '\u00a0}', None, "malformed JSON", "no-break space as space")
B(PAY[:-1] + '\x0b}', None, "malformed JSON", "vertical tab as space")
B('{"type":"payment","type":"payment"', None, "malformed JSON",
  "malformed outranks a duplicate")
B('{"type":"payment","name":"\\u0000",', None, "malformed JSON",
  "malformed outranks \\u0000")
B('{"type":"payment","name":"a\\u0000b"}', None, "U+0000",
  "escaped U+0000 in a value")
B('{"type":"payment","a\\u0000":1}', None, "U+0000",
  "escaped U+0000 in a member name")
B('{"type":"payment","x":{"y":["\\u0000"]}}', None, "U+0000",
  "escaped U+0000 deep inside")
B('{"type":"payment","name":"\\uD800"}', None, "lone surrogate",
  "lone high surrogate")
B('{"type":"payment","name":"\\udc00"}', None, "lone surrogate",
  "lone low surrogate")
B('{"type":"payment","name":"\\uD83Dx"}', None, "lone surrogate",
  "high surrogate then a letter")
B('{"type":"payment","name":"\\uD83D\\u0041"}', None, "lone surrogate",
  "high surrogate then a non-surrogate escape")
B('{"type":"payment","name":"\\uDE00\\uD83D"}', None, "lone surrogate",
  "surrogates in the wrong order")
B('{"type":"payment","name":"\\uD83D\\uD83D"}', None, "lone surrogate",
  "two high surrogates")
B('{"\\uDFFF":1}', None, "lone surrogate", "lone surrogate in a name")
B('"\\u0000"', None, "U+0000", "I-JSON outranks not-an-object")
B('[]', None, "not an object", "empty array")
B('[' + PAY + ']', None, "not an object", "event inside an array")
B('"payment"', None, "not an object", "a string")
B('42', None, "not an object", "a number")
B('true', None, "not an object", "true")
B('null', None, "not an object", "null")
B('[{"a":1,"a":2}]', None, "not an object",
  "not-an-object outranks a duplicate inside")
B(PAY[:-1] + ',"type":"payment"}', "type", "duplicate member name",
  "type twice")
B(PAY[:-1] + ',"amount":1}', "amount", "duplicate member name",
  "amount twice, different values")
B(PAY[:-1] + ',"id":"e-pay"}', "id", "duplicate member name", "id twice")
B('{"type":"payment","a":1,"\\u0061":2}', "a", "duplicate member name",
  "escaped spelling of the same name")
B(dump(ev("account", contacts=[{"role": "cfo", "name": "A"}]))[:-3]
  + ',"name":"B","phone":"1"}]}', "contacts", "duplicate member name",
  "name twice inside a contact")
B('{"type":"payment","x":{"y":{"z":1,"z":2}}}', "x",
  "duplicate member name", "deep duplicate: its top-level member")
B('{"type":"payment","x":[1,{"z":1,"z":2}]}', "x", "duplicate member name",
  "duplicate in an object inside an array")
B('{"a":1,"b":{"x":1,"x":2},"a":2}', "b", "duplicate member name",
  "the earliest repetition decides (inner)")
B('{"p":1,"p":2,"q":{"x":1,"x":2}}', "p", "duplicate member name",
  "the earliest repetition decides (outer)")
B('{"a":{"x":1,"x":2},"a":1}', "a", "duplicate member name",
  "inner repetition inside the later-duplicated member")
B('{"type":"nonsense","b":1,"b":2}', "b", "duplicate member name",
  "step 1 before step 2")
B('{' + ','.join('"k%d":%d' % (i, i) for i in range(30))
  + ',"k5":0}', "k5", "duplicate member name",
  "large object (sorted check)")
B('{' + ','.join('"k%d":%d' % (i, i) for i in range(30))
  + ',"k7":0,"k3":0}', "k7", "duplicate member name",
  "large object: the earlier repetition, not the smaller name")
B('{"type":"payment","x":{' + ','.join('"n%d":1' % i for i in range(40))
  + ',"n39":2}}', "x", "duplicate member name",
  "large nested object")

# --- Step 2: type ---------------------------------------------------------
B(ev("payment", drop=("type",)), "type", "missing", "no type")
B(ev("payment", type=None), "type", "must be a string", "type null")
B(ev("payment", type=1), "type", "must be a string", "type a number")
B(ev("payment", type=True), "type", "must be a string", "type a boolean")
B(ev("payment", type=["payment"]), "type", "must be a string",
  "type an array")
B(ev("payment", type={}), "type", "must be a string", "type an object")
B(ev("payment", type=""), "type", "unknown event type", "type empty")
B(ev("payment", type="Payment"), "type", "unknown event type",
  "type capitalised")
B(ev("payment", type="refund"), "type", "unknown event type",
  "type not in the table")
B(ev("payment", type=" payment"), "type", "unknown event type",
  "type with a space")
B(ev("payment", type="dispute-resolved"), "type", "unknown event type",
  "hyphen for underscore")
B(ev("payment", drop=("type",), id="bad id"), "type", "missing",
  "step 2 before step 3")
B(ev("payment", type="refund", bogus=1), "type", "unknown event type",
  "step 2 before step 4")

# --- Step 3: id -----------------------------------------------------------
B(ev("payment", drop=("id",)), "id", "missing", "no id")
B(ev("payment", id=None), "id", "must be an id string", "id null")
B(ev("payment", id=17), "id", "must be an id string", "id a number")
B(ev("payment", id=["a"]), "id", "must be an id string", "id an array")
B(ev("payment", id=""), "id", "not an id", "id empty")
B(ev("payment", id="x" * 65), "id", "not an id", "id of 65 characters")
B(ev("payment", id="a b"), "id", "not an id", "id with a space")
B(ev("payment", id="a/b"), "id", "not an id", "id with a slash")
B(ev("payment", id="caf\u00e9"), "id", "not an id", "id not ASCII")
B(ev("payment", id="a#1"), "id", "not an id", "id with #")
B(ev("payment", id="a\nb"), "id", "not an id", "id with a newline")
B(ev("payment", id="bad id", bogus=1), "id", "not an id",
  "step 3 before step 4 (bad id, unknown member)")
B(ev("payment", drop=("id", "amount"), bogus=1), "id", "missing",
  "step 3 before steps 4 and 5")

# --- Step 4: members not in the row ---------------------------------------
B(ev("payment", currency_code="CNY"), "currency_code", "unknown member",
  "made-up member")
B(ev("payment", name="x"), "name", "unknown member",
  "member of another type")
B(ev("account", amount=1), "amount", "unknown member", "account + amount")
B(ev("invoice", at=AT), "at", "unknown member", "invoice + at")
B(ev("credit", allow_credit_balance=True), "allow_credit_balance",
  "unknown member", "credit + allow_credit_balance")
B(ev("promise", invoice="I-1"), "invoice", "unknown member",
  "promise + invoice")
B(ev("dispute", upheld_amount=1), "upheld_amount", "unknown member",
  "dispute + upheld_amount")
B(ev("dispute", note="x"), "note", "unknown member", "dispute + note")
B(ev("dispute_resolved", amount=1), "amount", "unknown member",
  "dispute_resolved + amount")
B(ev("outcome", account="C-1"), "account", "unknown member",
  "outcome + account")
B(ev("outcome", reason="x"), "reason", "unknown member",
  "outcome + reason (its member is note)")
B(ev("reversal", amount=1), "amount", "unknown member", "reversal + amount")
B(ev("reversal", currency="CNY"), "currency", "unknown member",
  "reversal + currency")
B(ev("payment", Type="payment"), "Type", "unknown member",
  "names are case-sensitive")
B(ev("payment", bogus=None), "bogus", "unknown member",
  "unknown member with a null value")
B('{"type":"payment","id":"e1","\\u0078yz":1}', "xyz", "unknown member",
  "escaped unknown name, reported unescaped")
B(ev("payment", drop=("amount",), bogus=1), "bogus", "unknown member",
  "step 4 before step 5")
B(ev("payment", amount=-5, bogus=1), "bogus", "unknown member",
  "step 4 before step 6")
B(ev("payment", zz=1, aa=2), "zz", "unknown member",
  "first unknown member in line order")
B(ev("account", contacts=[], Contacts=[]), "Contacts", "unknown member",
  "account + Contacts")

# --- Step 5: missing required fields --------------------------------------
for kind, fields in [
        ("invoice", ["account", "invoice", "amount", "issued", "due"]),
        ("payment", ["account", "amount", "at"]),
        ("credit", ["account", "invoice", "amount", "at"]),
        ("promise", ["account", "amount", "due", "at"]),
        ("dispute", ["account", "invoice", "amount", "reason", "at"]),
        ("dispute_resolved", ["account", "invoice", "at"]),
        ("outcome", ["task", "result", "at"]),
        ("reversal", ["account", "event", "at"]),
        ("account", ["account"])]:
    for f in fields:
        B(ev(kind, drop=(f,)), f, "missing", "%s without %s" % (kind, f))
B(ev("invoice", drop=("amount", "account")), "account", "missing",
  "two missing: the first in row order")
B(ev("invoice", drop=("due",), amount=0), "due", "missing",
  "step 5 before step 6")

# --- Step 6: values -------------------------------------------------------
for v, why, msg in [
        (0, "zero", "out of range"), (-1, "negative", "out of range"),
        (1.5, "fraction", "no fraction"),
        ("100.0", None, "no fraction"), ("1e2", None, "no exponent"),
        ("1E2", None, "no exponent"), ("1e-2", None, "no exponent"),
        ("100", "a string", "must be a JSON integer"),
        (True, "true", "must be a JSON integer"),
        ([], "array", "must be a JSON integer"),
        ({}, "object", "must be a JSON integer"),
        ("9007199254740993", None, "out of range"),
        ("99999999999999999999999", None, "out of range"),
        ("-0", None, "out of range"), ("0.0", None, "no fraction"),
        ("-9007199254740992", None, "out of range")]:
    if why is None:
        line = PAY.replace('"amount":50000', '"amount":' + v)
        B(line, "amount", msg, "amount " + v + " as written")
    else:
        B(ev("payment", amount=v), "amount", msg, "amount " + why)
B(ev("payment", amount=None), "amount", "must not be null", "amount null")
B(ev("invoice", amount=0), "amount", "out of range", "invoice amount 0")
B(ev("credit", amount=2.0), "amount", "no fraction", "credit amount 2.0")
B(ev("promise", amount="5"), "amount", "must be a JSON integer",
  "promise amount string")
B(ev("dispute", amount=-3), "amount", "out of range", "dispute amount < 0")
B(ev("dispute_resolved", upheld_amount=0), "upheld_amount", "out of range",
  "upheld_amount 0")
B(dump(ev("dispute_resolved"))[:-1] + ',"upheld_amount":9007199254740993}',
  "upheld_amount", "out of range", "upheld_amount 2^53 + 1")
B(dump(ev("dispute_resolved"))[:-1] + ',"upheld_amount":1e3}',
  "upheld_amount", "no exponent", "upheld_amount exponent")
B(ev("dispute_resolved", upheld_amount=None), "upheld_amount",
  "must not be null", "optional member null")
B(ev("payment", account=""), "account", "not an id", "account empty")
B(ev("payment", account="C" * 65), "account", "not an id",
  "account 65 characters")
B(ev("payment", account="C 1"), "account", "not an id", "account space")
B(ev("payment", account=None), "account", "must not be null",
  "account null")
B(ev("payment", account=1001), "account", "must be an id string",
  "account a number")
B(ev("credit", invoice=5), "invoice", "must be an id string",
  "invoice a number")
B(ev("credit", invoice="I/1"), "invoice", "not an id", "invoice slash")
B(ev("outcome", task="T 1"), "task", "not an id", "task space")
B(ev("promise", task="\u4efb\u52a1"), "task", "not an id", "task CJK")
B(ev("reversal", event=""), "event", "not an id", "event empty")
B(ev("reversal", event=["e-pay"]), "event", "must be an id string",
  "event an array")
B(ev("account", name=""), "name", "must not be empty", "name empty")
B(ev("account", name=5), "name", "must be a string", "name a number")
B(ev("account", name=None), "name", "must not be null", "name null")
B(ev("dispute", reason=""), "reason", "must not be empty",
  "dispute reason empty")
B(ev("reversal", reason=""), "reason", "must not be empty",
  "reversal reason empty")
B(ev("dispute", reason=1), "reason", "must be a string", "reason number")
B(ev("outcome", note=5), "note", "must be a string", "note a number")
B(ev("outcome", note=None), "note", "must not be null", "note null")
for v in ["cny", "CN", "CNYY", "C1Y", "", " CNY", "\u00c7NY"]:
    B(ev("account", currency=v), "currency", "3 upper-case ASCII letters",
      "currency %r" % v)
B(ev("payment", currency=156), "currency", "3 upper-case ASCII letters",
  "currency a number")
B(ev("invoice", currency="usd"), "currency", "3 upper-case ASCII letters",
  "invoice currency lower case")
for v in ["Small", "xl", "", "tiny"]:
    B(ev("account", size=v), "size", "is not one of small, medium, large",
      "size %r" % v)
B(ev("account", size=1), "size", "must be one of", "size a number")
for v in ["F", "a", "AB", ""]:
    B(ev("account", risk=v), "risk", "must be one of", "risk %r" % v)
B(ev("account", risk=1), "risk", "must be one of", "risk a number")
for v, msg in [(0, "out of range"), (32, "out of range"),
               (-1, "out of range"), ("5", "must be a JSON integer")]:
    B(ev("account", cash_in_day=v), "cash_in_day", msg,
      "cash_in_day %r" % v)
B(dump(ev("account"))[:-1] + ',"cash_in_day":1.0}', "cash_in_day",
  "no fraction", "cash_in_day 1.0")
B(dump(ev("account"))[:-1] + ',"cash_in_day":1e1}', "cash_in_day",
  "no exponent", "cash_in_day 1e1")
for v, msg in [(-1, "out of range"), (20001, "out of range"),
               ("10", "must be a JSON integer")]:
    B(ev("account", distance_km=v), "distance_km", msg,
      "distance_km %r" % v)
B(dump(ev("account"))[:-1] + ',"distance_km":0.5}', "distance_km",
  "no fraction", "distance_km 0.5")
B(dump(ev("account"))[:-1] + ',"distance_km":-0}', "distance_km",
  "out of range", "distance_km -0 (a sign)")
for v in ["true", 1, 0]:
    B(ev("account", paused=v), "paused", "must be true or false",
      "paused %r" % v)
B(ev("account", paused=None), "paused", "must not be null", "paused null")
B(ev("payment", allow_credit_balance="yes"), "allow_credit_balance",
  "must be true or false", "allow_credit_balance a string")
for v in ["2026-02-30", "2026-1-01", "20260101", "2026-01-01T00:00:00Z",
          "1969-12-31", "", "2026-02-29", "26-01-01", "2026/01/01"]:
    B(ev("invoice", issued=v), "issued", "not a date", "issued %r" % v)
B(ev("invoice", issued=20260101), "issued", "must be a date string",
  "issued a number")
B(ev("invoice", due="2026-13-01"), "due", "not a date", "due month 13")
B(ev("promise", due="2026-04-31"), "due", "not a date",
  "promise due April 31")
for v in ["2026-01-05", "2026-01-05T10:00:00", "2026-01-05 10:00:00Z",
          "2026-01-05T10:00:60Z", "2026-01-05T24:00:00Z",
          "2026-01-05T10:00:00+24:00", "2026-01-05T10:00:00.Z",
          "2026-01-05T10:00:00.1234567890Z", "1969-12-31T23:59:59Z",
          "x", "2026-01-05T10:00Z", "2026-01-05T10:00:00+0800"]:
    B(ev("payment", at=v), "at", "not a timestamp", "at %r" % v)
B(ev("payment", at=1767600000), "at", "must be a timestamp string",
  "at a number")
B(ev("outcome", at=None), "at", "must not be null", "at null")
for v in ["ok", "Reached", ""]:
    B(ev("outcome", result=v), "result", "is not one of reached",
      "result %r" % v)
B(ev("outcome", result=1), "result", "must be one of", "result a number")
C = {"role": "owner", "name": "Wang", "phone": "1"}
for v, msg, why in [
        ({}, "must be an array of contacts", "contacts an object"),
        ("Wang", "must be an array of contacts", "contacts a string"),
        ([C] * 21, "more than 20 contacts", "21 contacts"),
        ([C, "x"], "contact 2: must be an object", "element a string"),
        ([{"name": "A", "phone": "1"}], "contact 1: missing role",
         "no role"),
        ([{"role": "cfo", "phone": "1"}], "contact 1: missing name",
         "no name"),
        ([{"role": "cfo", "name": "A"}], "needs a phone or an email",
         "neither phone nor email"),
        ([{"role": "cfo", "name": "A", "fax": "1"}],
         "contact 1: unknown member", "unknown key"),
        ([{"role": "boss", "name": "A", "phone": "1"}], "unknown role",
         "unknown role"),
        ([{"role": "CFO", "name": "A", "phone": "1"}], "unknown role",
         "role capitalised"),
        ([{"role": "cfo", "name": "", "phone": "1"}],
         "name must not be empty", "empty name"),
        ([{"role": "cfo", "name": "A", "phone": ""}],
         "phone must not be empty", "empty phone"),
        ([{"role": "cfo", "name": "A", "email": 5}],
         "email must be a string", "email a number"),
        ([{"role": 1, "name": "A", "phone": "1"}], "role must be a string",
         "role a number"),
        ([{"role": "cfo", "name": "A", "phone": None}],
         "phone must be a string", "phone null"),
        ([{"fax": "1"}], "unknown member",
         "unknown key before missing role"),
        ([C, {"role": "cfo", "name": "A"}, {"x": 1}],
         "contact 2: needs a phone", "the first bad contact"),
        (None, "must not be null", "contacts null")]:
    B(ev("account", contacts=v), "contacts", msg, "contacts: " + why)
for v, msg, why in [
        ("vip", "must be an array of ids", "tags a string"),
        (["t%d" % i for i in range(33)], "more than 32 tags", "33 tags"),
        (["a", 5], "tag 2: must be an id string", "tag a number"),
        ([""], "tag 1: not an id", "tag empty"),
        (["a b"], "tag 1: not an id", "tag with a space"),
        (["x" * 65], "tag 1: not an id", "tag of 65 characters"),
        (["a", "b", "a"], "tag 3 repeats tag 1", "repeated tag"),
        ([None], "tag 1: must be an id string", "tag null"),
        (None, "must not be null", "tags null")]:
    B(ev("account", tags=v), "tags", msg, "tags: " + why)
B('{"type":"account","id":"e1","account":"C-1","tags":["a","\\u0061"]}',
  "tags", "repeats tag", "repeated tag, escaped")
# Order of checks within step 6: the type's row, not the line.
B(ev("payment", at="x", amount=0), "amount", "out of range",
  "row order: amount before at")
B('{"at":"x","amount":0,"type":"payment","id":"e1","account":"C-1"}',
  "amount", "out of range", "row order, whatever the line order")
B(ev("invoice", due="bad", issued="bad"), "issued", "not a date",
  "row order: issued before due")
B(ev("account", tags=5, name=""), "name", "must not be empty",
  "row order: name before tags")
B(ev("account", size="xl", currency="x"), "currency",
  "3 upper-case ASCII letters", "row order: currency before size")
B('{"currency":"x","type":"payment","id":"e1","account":"C-1",'
  '"amount":0,"at":"' + AT + '"}', "amount", "out of range",
  "required before optional")
B(ev("account", contacts=5, risk="Z"), "risk", "must be one of",
  "row order: risk before contacts")
B(ev("dispute_resolved", currency="x", upheld_amount=0), "upheld_amount",
  "out of range", "row order: upheld_amount before currency")
B(ev("outcome", note=1, result="x"), "result", "is not one of",
  "row order: result before note")

# --- Lines that must be accepted ------------------------------------------
for kind in BASE:
    G(ev(kind), "minimal " + kind)
    G(ev(kind, **FULL[kind]), kind + " with every optional member")
G(ev("account", drop=("name", "currency", "size")),
  "account update: only account required here (step 8 decides)")
G(ev("payment", id="a" * 64, account="B" * 64), "64-character ids")
G(ev("payment", id="Az09._:-"), "every id character class")
G(ev("payment", amount=9007199254740992), "amount exactly 2^53")
G(ev("payment", amount=1), "amount 1")
G(ev("dispute_resolved", upheld_amount=9007199254740992),
  "upheld_amount 2^53")
G(ev("account", name="\u5317\u4eac\u6c7d\u8f66 \U0001F697"),
  "name with CJK and an emoji (raw UTF-8)")
G('{"type":"account","id":"e1","account":"C-1","name":'
  '"\\u5317\\u4eac \\ud83d\\ude97 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u001f"}',
  "escaped unicode, a surrogate pair and every short escape")
G('{"\\u0074ype":"pa\\u0079ment","\\u0069d":"e1","account":"C-1",'
  '"amount":5,"at":"' + AT + '"}', "escaped member names and type")
G(ev("account", name="\ufdd0 \uffff"), "noncharacters are accepted")
G(ev("outcome", note=""), "note may be empty")
G(ev("account", contacts=[], tags=[]), "empty contacts and tags (clear)")
G(ev("account", contacts=[dict(C, name="c%d" % i) for i in range(20)]),
  "20 contacts")
G(ev("account", tags=["t%d" % i for i in range(32)]), "32 tags")
G(ev("account", contacts=[{"email": "a@b", "role": "financial_controller",
                           "name": "A"}]), "contact with email only")
G(ev("account", contacts=[{"role": r, "name": "N", "phone": "1"}
                          for r in ["owner", "president", "general_manager",
                                    "cfo", "finance_director", "ap_manager",
                                    "financial_controller", "accountant",
                                    "sales", "other"]]), "every role")
G(ev("account", cash_in_day=1, distance_km=0), "lowest cash_in_day, km")
G(ev("account", cash_in_day=31, distance_km=20000),
  "highest cash_in_day, km")
for r in ["A", "E"]:
    G(ev("account", risk=r, size="large", paused=True), "risk " + r)
G(ev("account", size="medium"), "size medium")
for res in ["no_answer", "wrong_contact", "promise", "dispute", "refused",
            "paid", "done"]:
    G(ev("outcome", result=res), "result " + res)
G(ev("payment", at="2026-01-05t10:00:00.123456789z"),
  "lower-case t and z, 9 fraction digits")
G(ev("payment", at="2026-01-05T10:00:00-05:30"), "negative offset")
G(ev("payment", at="1970-01-01T00:00:00Z"), "the epoch")
G(ev("invoice", issued="2024-02-29", due="9999-12-31"),
  "leap day, last date")
G(ev("payment", allow_credit_balance=False), "allow_credit_balance false")
G(' { "type" : "payment" ,\t"id":"e1", "account":"C-1",'
  ' "amount":5 , "at":"' + AT + '" } ', "whitespace between tokens")
G(PAY + '\r', "a CR before the LF (stripped by framing; JSON space)")
G(PAY, "padded with spaces to exactly 1 MiB", pad_to=MAX)
G(ev("account", name="a\u0001b\u007f"),
  "escaped control character and raw DEL in a name")


def write(name, rows):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write("events-bad.jsonl", bad)
    write("events-good.jsonl", good)
    print("%d bad, %d good" % (len(bad), len(good)), file=sys.stderr)
