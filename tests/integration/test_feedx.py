"""For the tools that consume the feed (issue 25): whole records at
shutdown, `done` records, supersede, the consumers role, the feed
identity and backups.

Every test starts its own dunnd (lib.py) on a test clock in
Asia/Shanghai and drives it through dunnctl and the socket.
"""
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
import unittest

from lib import (TASKS_AS_V6, DUNNCTL, ledger_as_v9, state_as_v7, DaemonTest, MINIMAL_RULES, feed_records, ingest_events,
                 read_reply, request, task_records, write_jsonl)

T0 = "2026-03-02T09:00:00+08:00"
DEADLINE = 60.0


def portfolio(n, due="2026-02-20"):
    """n accounts F-0000 ..., each with one invoice overdue at T0."""
    events = []
    for i in range(n):
        a = "F-%04d" % i
        events.append({"type": "account", "id": "a." + a, "account": a, "name": "Customer " + a,
                       "currency": "CNY", "size": "small",
                       "contacts": [{"role": "owner", "name": "Owner of " + a,
                                     "phone": "+86 555 %04d" % i}]})
        events.append({"type": "invoice", "id": "i." + a, "account": a, "invoice": "I." + a,
                       "amount": 100000 + i, "issued": "2026-01-20", "due": due})
    return events


def wait_for(cond, what, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


# --- 1. whole records at shutdown (§8) ---------------------------------------------

class WholeRecordsAtShutdown(DaemonTest):
    """A follower far behind when dunnd stops gets whole records up to a
    record boundary, then {"ok":false,"error":"shutting down"}."""

    def setUp(self):
        super().setUp()
        self.d = self.daemon(clock=T0).start()
        r = self.d.ingest(portfolio(2500), json_out=False)
        self.assertEqual(r.rc, 0, r)
        self.head = self.d.status()["feed_head"]
        self.assertGreaterEqual(self.head, 5000)      # about 3 MB of records

    def test_a_follower_that_stops_reading_across_sigterm(self):
        d = self.d
        s = d.connect()
        request(s, {"v": 1, "cmd": "feed", "follow": True, "from": 0})
        f = s.makefile("rb")
        first = [json.loads(f.readline()) for _ in range(50)]
        self.assertEqual([r["seq"] for r in first], list(range(1, 51)))
        # The client reads nothing more for well beyond dunnd's 2 s of
        # draining: dunnd must stop anyway, and leave whole records.
        d.proc.send_signal(15)
        self.assertEqual(d.proc.wait(DEADLINE), 0)
        s.settimeout(DEADLINE)
        rest = f.read()
        s.close()
        self.assertTrue(rest.endswith(b"\n"), rest[-200:])
        recs = [json.loads(l) for l in rest.split(b"\n")[:-1]]   # whole lines only
        self.assertEqual(recs[-1], {"ok": False, "error": "shutting down"})
        seqs = [r["seq"] for r in first + recs[:-1]]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        self.assertLess(len(seqs), self.head)           # it was behind

    def test_dunnctl_piped_into_a_slow_reader(self):
        """`dunnctl --json feed --follow | slow reader`: every line it
        prints is a whole record, and it exits 3 ("shutting down")."""
        d = self.d
        p = subprocess.Popen([DUNNCTL, "-s", d.sock, "--json", "feed", "--follow"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = [json.loads(p.stdout.readline()) for _ in range(20)]
        self.assertEqual(first[0]["seq"], 1)
        d.proc.send_signal(15)
        self.assertEqual(d.proc.wait(DEADLINE), 0)
        time.sleep(0.5)       # dunnctl itself is behind: let it be
        out = p.stdout.read()      # after what readline() buffered
        err = p.stderr.read()
        p.wait(DEADLINE)
        lines = out.split(b"\n")
        self.assertEqual(lines[-1], b"")
        recs = first + [json.loads(l) for l in lines[:-1]]
        self.assertEqual([r["seq"] for r in recs], list(range(1, len(recs) + 1)))
        self.assertEqual(p.returncode, 3, err)
        self.assertEqual(err, b"dunnctl: shutting down\n")


class CutReply(DaemonTest):
    """dunnctl and a reply that ends without its final record (§8)."""

    def serve(self, data):
        path = os.path.join(self.tmp, "fake.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)

        def run():
            c, _ = srv.accept()
            c.makefile("rb").readline()
            c.sendall(data)
            c.close()
            srv.close()
        threading.Thread(target=run, daemon=True).start()
        return path

    def test_a_cut_record_is_never_printed_and_exits_3(self):
        whole = b'{"seq":1,"kind":"cancel","task":"T-000001","account":"A","reason":"x","at":"2026-03-02T09:00:00+08:00"}\n'
        cut = b'{"seq":2,"kind":"task","task":"T-000002","source":"stage:negotia'
        for args in (["--json", "feed", "--follow"], ["--json", "feed"], ["feed"]):
            path = self.serve(whole + cut)
            r = subprocess.run([DUNNCTL, "-s", path] + args, capture_output=True, timeout=DEADLINE)
            self.assertEqual(r.returncode, 3, r)
            self.assertNotIn(b"negotia", r.stdout)
            self.assertIn(b"in the middle of a record", r.stderr)
            if args[0] == "--json":
                self.assertEqual(r.stdout, whole)
            os.unlink(path)

    def test_unreachable_with_a_consumer_says_so_once(self):
        r = subprocess.run([DUNNCTL, "-s", os.path.join(self.tmp, "none.sock"), "feed",
                            "--consumer", "crm"], capture_output=True, text=True,
                           timeout=DEADLINE)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stderr.count("cannot reach dunnd"), 1, r.stderr)

    def test_no_final_record_exits_3(self):
        path = self.serve(b'{"seq":1,"kind":"cancel"}\n')
        r = subprocess.run([DUNNCTL, "-s", path, "--json", "feed"], capture_output=True,
                           timeout=DEADLINE)
        self.assertEqual(r.returncode, 3, r)
        self.assertEqual(r.stdout, b'{"seq":1,"kind":"cancel"}\n')


# --- 2. done records (§5, §7) ------------------------------------------------------

def outcome(eid, task, result, at, note=None):
    ev = {"type": "outcome", "id": eid, "task": task, "result": result, "at": at}
    if note is not None:
        ev["note"] = note
    return ev


def payment(eid, account, amount, at):
    return {"type": "payment", "id": eid, "account": account, "amount": amount, "at": at}


class DoneRecords(DaemonTest):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(clock=T0).start()
        r, _ = ingest_events(self.d, portfolio(2))
        self.assertEqual(r.returncode, 0, r.stderr)
        # Each account: negotiation, "ask" at T0, "firm" 3 days on.
        r = self.d.ctl("clock", "advance", "3d")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.tasks = {t["task"]: t for t in task_records(self.d)}
        self.assertEqual(len(self.tasks), 4)
        r = self.d.ctl("clock", "advance", "2h")     # outcomes come later
        self.assertEqual(r.returncode, 0, r.stderr)

    def task_of(self, account, script):
        return [t for t in self.tasks.values()
                if t["account"] == account and t["script"] == script][0]["task"]

    def test_done_records_come_first_in_line_order(self):
        d = self.d
        a_ask, a_firm = self.task_of("F-0000", "ask"), self.task_of("F-0000", "firm")
        b_ask = self.task_of("F-0001", "ask")
        head = d.status()["feed_head"]
        at1, at2 = "2026-03-05T10:00:00+08:00", "2026-03-05T10:30:00+08:00"
        r, res = ingest_events(d, [
            payment("p.b", "F-0001", 100001, at1),               # B settles: evaluated first
            outcome("o.1", a_firm, "promise", at1, note="pays Friday"),
            payment("p.a", "F-0000", 100000, at2),
            outcome("o.2", a_ask, "no_answer", at2),
            outcome("o.3", a_firm, "paid", at2),                 # already done: no record
        ])
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = feed_records(d, head)
        kinds = [(x["kind"], x.get("task"), x["account"]) for x in recs]
        self.assertEqual(kinds[:2], [("done", a_firm, "F-0000"), ("done", a_ask, "F-0000")])
        self.assertEqual(recs[0], {"seq": head + 1, "kind": "done", "task": a_firm,
                                   "account": "F-0000", "result": "promise", "at": at1})
        self.assertEqual(recs[1]["result"], "no_answer")
        self.assertEqual(recs[1]["at"], at2)
        # Then the evaluations, in order of first appearance: B, then A.
        self.assertEqual(kinds[2:], [("transition", None, "F-0001"),
                                     ("cancel", b_ask, "F-0001"),
                                     ("cancel", self.task_of("F-0001", "firm"), "F-0001"),
                                     ("transition", None, "F-0000")])
        self.assertEqual([x["seq"] for x in recs], list(range(head + 1, head + 7)))
        # tasks --json: the outcome that closed each done task.
        tasks = {t["task"]: t for t in task_records(d)}
        self.assertEqual({k: tasks[a_firm].get(k) for k in ("status", "result", "note", "done_at")},
                         {"status": "done", "result": "promise", "note": "pays Friday",
                          "done_at": at1})
        self.assertEqual(tasks[a_ask]["status"], "done")
        self.assertNotIn("note", tasks[a_ask])
        self.assertEqual(tasks[b_ask]["status"], "cancelled")
        self.assertNotIn("result", tasks[b_ask])
        self.assertNotIn("done_at", tasks[b_ask])
        # An outcome for a cancelled task closes nothing: no done record.
        head = d.status()["feed_head"]
        r, _ = ingest_events(d, [outcome("o.4", b_ask, "reached", at2)])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(feed_records(d, head), [])
        self.assertEqual({t["task"]: t for t in task_records(d)}[b_ask]["status"], "cancelled")
        # explain: the recent tasks with their outcomes.
        r, ex = d.ctl_json("explain", "F-0000")
        self.assertEqual(r.returncode, 0, r.stderr)
        recent = {t["task"]: t for t in ex[0]["recent_tasks"]}
        self.assertEqual(recent[a_firm]["result"], "promise")
        self.assertEqual(recent[a_firm]["note"], "pays Friday")
        self.assertEqual(recent[a_ask]["done_at"], at2)
        r = d.ctl("explain", "F-0000")
        self.assertIn("recent tasks", r.stdout)
        self.assertIn("pays Friday", r.stdout)
        r = d.ctl("feed", "--from", str(head - 6))
        self.assertIn("done", r.stdout)
        # The records survive a restart unchanged.
        want = feed_records(d)
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(feed_records(d), want)

    def test_a_refused_batch_leaves_no_done_record(self):
        d = self.d
        a_ask = self.task_of("F-0000", "ask")
        head = d.status()["feed_head"]
        r, _ = ingest_events(d, [outcome("o.1", a_ask, "reached", "2026-03-05T10:00:00+08:00"),
                                 payment("p.x", "NOPE", 5, "2026-03-05T10:00:00+08:00")])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(d.status()["feed_head"], head)
        self.assertEqual({t["task"]: t for t in task_records(d)}[a_ask]["status"], "open")


# --- 3. supersede (§4.5) -----------------------------------------------------------

SUPERSEDE_RULES = """
stages = (
  { name = "current"; },
  { name = "neg";
    tasks = ( { type = "call"; every = "1d"; max = 4; supersede = true; },
              { type = "sms"; after = "12h"; every = "1d"; max = 2; },
              { type = "letter"; after = "1d"; supersede = true; } ); }
);
rules = (
  { name = "overdue"; from = "current"; to = "neg"; when = { days_overdue = { min = 1; }; }; },
  { name = "settled"; from = "*"; to = "current"; when = { balance = { max = 0; }; }; }
);
"""


class Supersede(DaemonTest):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(clock=T0, rules=SUPERSEDE_RULES).start()
        r, _ = ingest_events(self.d, portfolio(1))
        self.assertEqual(r.returncode, 0, r.stderr)

    def advance(self, dur):
        r = self.d.ctl("clock", "advance", dur)
        self.assertEqual(r.returncode, 0, r.stderr)

    def kinds(self, recs):
        return [(x["kind"], x.get("task"), x.get("source") or x.get("reason")) for x in recs]

    def test_each_new_task_of_the_step_cancels_the_previous_one(self):
        d = self.d
        recs = feed_records(d)
        self.assertEqual(self.kinds(recs)[1:], [("task", "T-000001", "stage:neg#1/1")])
        head = d.status()["feed_head"]
        self.advance("12h")                      # the sms: no supersede
        self.advance("12h")                      # call 2, letter; the sms 1 stays
        self.assertEqual(self.kinds(feed_records(d, head)), [
            ("task", "T-000002", "stage:neg#2/1"),
            ("cancel", "T-000001", "superseded by T-000003"),
            ("task", "T-000003", "stage:neg#1/2"),
            ("task", "T-000004", "stage:neg#3"),
        ])
        cancel = feed_records(d, head)[1]
        self.assertEqual(cancel["at"], "2026-03-03T09:00:00+08:00")
        # An outcome closes call 2: call 3 has nothing to cancel.
        r, _ = ingest_events(d, [outcome("o.1", "T-000003", "no_answer",
                                         "2026-03-03T09:00:00+08:00")])
        self.assertEqual(r.returncode, 0, r.stderr)
        head = d.status()["feed_head"]
        self.advance("1d")
        self.assertEqual(self.kinds(feed_records(d, head)), [
            ("task", "T-000005", "stage:neg#2/2"),
            ("task", "T-000006", "stage:neg#1/3"),
        ])
        # A jump over two occurrences: each cancels the one before it.
        head = d.status()["feed_head"]
        self.assertEqual(d.stop(), 0)          # across a restart too
        d.start()
        self.advance("3d")
        self.assertEqual(self.kinds(feed_records(d, head)), [
            ("cancel", "T-000006", "superseded by T-000007"),
            ("task", "T-000007", "stage:neg#1/4"),   # max = 4: the last
        ])
        tasks = {t["task"]: t["status"] for t in task_records(d)}
        self.assertEqual(tasks, {"T-000001": "cancelled", "T-000002": "open", "T-000003": "done",
                                 "T-000004": "open", "T-000005": "open", "T-000006": "cancelled",
                                 "T-000007": "open"})

    def test_after_a_reload_steps_are_matched_by_position(self):
        d = self.d
        self.advance("1d")                       # call 2 supersedes call 1
        # The reload renames nothing but changes the step's every: the
        # step at position 1 goes on superseding its latest task.
        with open(os.path.join(d.tmp, "rules", "10-rules.conf"), "w") as f:
            f.write(SUPERSEDE_RULES.replace('every = "1d"; max = 4;', 'every = "2d"; max = 4;'))
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        head = d.status()["feed_head"]
        self.advance("3d")
        recs = [x for x in feed_records(d, head) if "neg#1" in x.get("source", "") or
                x["kind"] == "cancel"]
        self.assertEqual([(x["kind"], x["task"]) for x in recs][:2],
                         [("cancel", "T-000003"), ("task", recs[1]["task"])])
        self.assertEqual(recs[0]["reason"], "superseded by " + recs[1]["task"])
        self.assertEqual(recs[1]["source"], "stage:neg#1/3")
        opened = [t for t in task_records(d, "--open") if t["source"].startswith("stage:neg#1/")]
        self.assertEqual(len(opened), 1)

    def test_leaving_and_reentering_starts_a_new_entry(self):
        d = self.d
        self.advance("1d")
        r, _ = ingest_events(d, [payment("p.1", "F-0000", 100000, "2026-03-03T09:00:00+08:00")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(task_records(d, "--open"), [])
        r, _ = ingest_events(d, [{"type": "invoice", "id": "i.2", "account": "F-0000",
                                  "invoice": "I.2", "amount": 500, "issued": "2026-01-01",
                                  "due": "2026-02-01"}])
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = feed_records(d)
        self.assertEqual(recs[-1]["source"], "stage:neg#1/1")
        self.assertEqual(recs[-2]["kind"], "transition")


# --- 4. consumers (§6, §7, §8) -----------------------------------------------------

class Consumers(DaemonTest):
    def setUp(self):
        super().setUp()
        self.uid = os.getuid()
        if self.uid == 12345:
            self.skipTest("the test user has the uid the test uses as the admin")
        self.d = self.daemon(clock=T0).start()
        r, _ = ingest_events(self.d, portfolio(3))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.head = self.d.status()["feed_head"]

    def restart_as_consumer(self):
        d = self.d
        self.assertEqual(d.stop(), 0)
        with open(d.conf, "a") as f:
            f.write('admins = [ "12345" ];\nconsumers = [ "%d" ];\n' % self.uid)
        d.start()

    def test_listing_cursors_and_lag(self):
        d = self.d
        r = d.ctl("consumers")
        self.assertEqual((r.returncode, r.stdout), (0, "no consumers\n"), r.stderr)
        self.assertEqual(d.ctl("ack", "--consumer", "crm", "2").returncode, 0)
        self.assertEqual(d.ctl("ack", "--consumer", "bi", str(self.head)).returncode, 0)
        r, recs = d.ctl_json("consumers")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(recs, [{"consumer": "bi", "cursor": self.head, "lag": 0},
                                {"consumer": "crm", "cursor": 2, "lag": self.head - 2}])
        r = d.ctl("consumers")
        self.assertEqual(r.stdout.split("\n")[0].split(), ["CONSUMER", "CURSOR", "LAG"])
        self.assertEqual(r.stdout.split("\n")[2].split(), ["crm", "2", str(self.head - 2)])

    def test_a_name_never_acked_gets_a_warning(self):
        d = self.d
        self.assertEqual(d.ctl("ack", "--consumer", "crm", "2").returncode, 0)
        for follow in ([], ["--follow"]):
            args = ["--json", "feed", "--consumer", "cmr"] + follow
            if follow:
                p = subprocess.Popen([DUNNCTL, "-s", d.sock] + args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                recs = [json.loads(p.stdout.readline()) for _ in range(self.head)]
                p.terminate()
                out, err = p.communicate(timeout=DEADLINE)
                err = err.decode()
            else:
                r = d.ctl(*args)
                self.assertEqual(r.returncode, 0, r.stderr)
                recs, err = [json.loads(l) for l in r.stdout.splitlines()], r.stderr
            self.assertEqual(recs[0]["seq"], 1)
            self.assertIn("warning: consumer cmr has never acknowledged", err)
        r = d.ctl("--json", "feed", "--consumer", "crm")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(json.loads(r.stdout.splitlines()[0])["seq"], 3)
        r = d.ctl("--json", "feed", "--consumer", "cmr", "--from", "4")
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_a_consumer_reads_and_acks_and_is_refused_the_rest(self):
        d = self.d
        self.restart_as_consumer()
        for args in (["status"], ["accounts"], ["explain", "F-0001"], ["tasks"],
                     ["feed"], ["feed", "--consumer", "crm"], ["report", "aging"]):
            r = d.ctl(*args)
            self.assertEqual(r.returncode, 0, "%s: %s" % (args, r.stderr))
        r = d.ctl("ack", "--consumer", "crm", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d.ctl("--json", "feed", "--consumer", "crm")
        self.assertEqual([json.loads(l)["seq"] for l in r.stdout.splitlines()],
                         list(range(4, self.head + 1)))
        batch = write_jsonl(os.path.join(d.tmp, "more.jsonl"),
                            [payment("p.1", "F-0001", 5, "2026-03-02T09:00:00+08:00")])
        for args in (["ingest", batch], ["reload"], ["consumers"],
                     ["backup", os.path.join(d.tmp, "b.db")], ["clock", "advance", "1d"]):
            r = d.ctl(*args)
            self.assertEqual(r.returncode, 1, "%s: %s%s" % (args, r.stdout, r.stderr))
            self.assertIn("permission denied", r.stderr, args)
        self.assertEqual(d.status()["feed_head"], self.head)
        self.assertFalse(os.path.exists(os.path.join(d.tmp, "b.db")))
        # On the socket: a refused ingest's body is read and discarded.
        with d.connect() as s:
            f = s.makefile("rb")
            body = b'{"v":1,"cmd":"status"}\n'
            request(s, (json.dumps({"v": 1, "cmd": "ingest", "bytes": len(body)}) + "\n").encode()
                    + body)
            self.assertEqual(read_reply(s, f), ([], {"ok": False, "error": "permission denied"}))
            request(s, {"v": 1, "cmd": "ack", "consumer": "crm", "seq": self.head})
            self.assertEqual(read_reply(s, f), ([], {"ok": True, "consumer": "crm",
                                                     "seq": self.head}))

    def test_unknown_consumer_names_are_skipped_and_bad_entries_refused(self):
        d = self.d
        self.assertEqual(d.stop(), 0)
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text + 'consumers = [ "no-such-user-xyz", "@no-such-group-xyz" ];\n')
        d.start()
        self.assertIn('unknown user "no-such-user-xyz"', d.log())
        self.assertEqual(d.stop(), 0)
        with open(d.conf, "w") as f:
            f.write(text + 'consumers = 5;\n')
        r = subprocess.run([os.path.join(os.path.dirname(DUNNCTL), "dunnd"), "-c", d.conf,
                            "--check"], capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("consumers", r.stdout + r.stderr)


# --- 5. feed identity (§6) ---------------------------------------------------------

class FeedId(DaemonTest):
    def test_made_with_the_database_and_never_changed(self):
        d = self.daemon(clock=T0).start()
        fid = d.status()["feed_id"]
        self.assertRegex(fid, r"^[0-9a-f]{32}$")
        self.assertIn("store: new database, feed_id " + fid, d.log())
        r = d.ctl("status")
        self.assertIn(fid, r.stdout)
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(d.status()["feed_id"], fid)
        other = self.daemon(sub="other", clock=T0).start()
        self.assertNotEqual(other.status()["feed_id"], fid)

    def test_a_database_from_before_gets_one_and_its_done_tasks_their_outcome(self):
        d = self.daemon(clock=T0).start()
        r, _ = ingest_events(d, portfolio(1))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d.ctl("clock", "advance", "1h")
        self.assertEqual(r.returncode, 0, r.stderr)
        r, _ = ingest_events(d, [outcome("o.1", "T-000001", "reached", "2026-03-02T09:30:00+08:00", "ok")])
        self.assertEqual(r.returncode, 0, r.stderr)
        old = d.status()["feed_id"]
        self.assertEqual(d.stop(), 0)
        # Back to the schema of version 1, as an older dunnd left it.
        db = sqlite3.connect(d.db)
        ledger_as_v9(db)
        state_as_v7(db)
        db.executescript(TASKS_AS_V6 +
                         "DELETE FROM meta WHERE key = 'feed_id'; DROP INDEX outcomes_task;"
                         "ALTER TABLE tasks DROP COLUMN outcome;"
                         # version 3's additions (metrics, report kpi)
                         "DROP INDEX accounts_created; DROP INDEX tasks_open_type;"
                         "DROP INDEX tasks_created; ALTER TABLE accounts DROP COLUMN created;"
                         "DROP TABLE kpi_days;"  # version 4's
                         "PRAGMA user_version = 1;")
        db.close()
        d.start()
        fid = d.status()["feed_id"]
        self.assertRegex(fid, r"^[0-9a-f]{32}$")
        self.assertNotEqual(fid, old)
        self.assertIn("store: the database had no feed_id: it is now " + fid, d.log())
        self.assertIn("schema migrated to version 2", d.log())
        t = task_records(d)[0]
        self.assertEqual((t["status"], t["result"], t["note"], t["done_at"]),
                         ("done", "reached", "ok", "2026-03-02T09:30:00+08:00"))


# --- 6. backup (§7) ----------------------------------------------------------------

class Backup(DaemonTest):
    def restore(self, backup, sub):
        """A new dunnd whose database is a copy of backup."""
        d = self.daemon(sub=sub, clock=T0)
        with open(backup, "rb") as src, open(d.db, "wb") as dst:
            dst.write(src.read())
        return d.start()

    def test_backup_during_a_stream_of_batches_then_restore(self):
        d = self.daemon(clock=T0).start()
        r = d.ingest(portfolio(1500), json_out=False)
        self.assertEqual(r.rc, 0, r)
        fid = d.status()["feed_id"]
        # A producer sends batch after batch (3 new accounts each) while
        # backups are taken; every batch is acknowledged.
        stop, acked, errors = threading.Event(), [], []

        def produce():
            k = 0
            while not stop.is_set() or k < 5:
                evs = []
                for i in range(3):
                    a = "S-%03d-%d" % (k, i)
                    evs += [{"type": "account", "id": "a." + a, "account": a, "name": a,
                             "currency": "CNY", "size": "small"},
                            {"type": "invoice", "id": "i." + a, "account": a, "invoice": "I." + a,
                             "amount": 500, "issued": "2026-01-01", "due": "2026-02-01"}]
                r = d.ingest(evs, json_out=False)
                (acked if r.rc == 0 else errors).append((k, r))
                k += 1
        t = threading.Thread(target=produce)
        t.start()
        backups = []
        try:
            for n in range(3):
                wait_for(lambda: len(acked) >= 2 * (n + 1), "batches to be acknowledged")
                path = os.path.join(self.tmp, "backup-%d.db" % n)
                r = d.ctl("backup", path, timeout=DEADLINE)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("backup written to " + path, r.stdout)
                backups.append(path)
        finally:
            stop.set()
            t.join(DEADLINE)
        self.assertEqual(errors, [])
        self.assertFalse(any(f.endswith(".tmp") for f in os.listdir(self.tmp)))
        self.assertIn("store: backup to %s done" % backups[0], d.log())
        final = len(acked)
        want_feed = feed_records(d)
        want_accounts = d.accounts()
        # Each copy: one consistent moment, a prefix of the feed, whole
        # batches, the same feed_id.
        for n, path in enumerate(backups):
            db = sqlite3.connect(path)
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            db.close()
            r2 = self.restore(path, "r%d" % n)
            st = r2.status()
            self.assertEqual(st["feed_id"], fid)
            got = feed_records(r2)
            self.assertEqual(got, want_feed[:len(got)])
            accts = r2.accounts()
            streamed = sorted({a.split("-")[1] for a in accts if a.startswith("S-")})
            self.assertEqual(streamed, ["%03d" % k for k in range(len(streamed))])
            for a, rec in accts.items():
                self.assertEqual(rec, want_accounts[a])
                if a.startswith("S-"):
                    self.assertEqual(len([x for x in accts if x.startswith(a[:6])]), 3)
            self.assertEqual(r2.stop(), 0)
        # A copy taken at rest restores to the same feed and accounts.
        path = os.path.join(self.tmp, "rest.db")
        r = d.ctl("--json", "backup", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(d.stop(), 0)
        r2 = self.restore(path, "rest")
        self.assertEqual(r2.status()["feed_id"], fid)
        self.assertEqual(feed_records(r2), want_feed)
        self.assertEqual(r2.accounts(), want_accounts)
        self.assertGreaterEqual(final, 5)

    def test_refusals(self):
        d = self.daemon(clock=T0).start()
        r = d.ctl("backup", d.db)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is the database itself", r.stderr)
        r = d.ctl("backup", os.path.join(self.tmp, "no", "such", "dir", "b.db"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("backup: cannot", r.stderr)
        with d.connect() as s:
            request(s, {"v": 1, "cmd": "backup", "path": "relative.db"})
            self.assertEqual(read_reply(s), ([], {"ok": False,
                                                  "error": "path: must be an absolute path"}))
        r = d.ctl("backup")
        self.assertEqual(r.returncode, 2)
        # dunnctl makes a relative FILE absolute (dunnd writes it).
        r = subprocess.run([DUNNCTL, "-s", d.sock, "backup", "rel.db"], cwd=self.tmp,
                           capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "rel.db")))


if __name__ == "__main__":
    unittest.main()
