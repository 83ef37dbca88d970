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

from lib import (DUNNCTL, DaemonTest, MINIMAL_RULES, feed_records, ingest_events,
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

    def test_no_final_record_exits_3(self):
        path = self.serve(b'{"seq":1,"kind":"cancel"}\n')
        r = subprocess.run([DUNNCTL, "-s", path, "--json", "feed"], capture_output=True,
                           timeout=DEADLINE)
        self.assertEqual(r.returncode, 3, r)
        self.assertEqual(r.stdout, b'{"seq":1,"kind":"cancel"}\n')


if __name__ == "__main__":
    unittest.main()
