"""Fair service across connections (targets.md R11; invariant 5 of
daemon/socket.c).

A client reading a long reply as fast as dunnd makes it must not have
the whole reply made in one turn of the loop while a small request on
another connection waits behind it: each connection gets a bounded share
of a loop pass (64 KiB of reply), then every other ready connection has
its turn.
"""
import json
import os
import socket
import threading
import time
import unittest

import lib

ACCOUNTS = 20000


class FastReader(threading.Thread):
    """Sends one request and reads its reply as fast as it can (recv in
    large pieces: no parsing), counting the bytes; done once the final
    record has arrived."""

    def __init__(self, path, req):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(path)
        self.req = req
        self.got = 0
        self.started = threading.Event()
        self.done = threading.Event()
        self.tail = b""
        self.error = None

    def run(self):
        try:
            self.s.sendall((json.dumps(self.req) + "\n").encode())
            while True:
                data = self.s.recv(1 << 20)
                if not data:
                    raise AssertionError("closed before the final record")
                self.got += len(data)
                self.started.set()
                self.tail = (self.tail + data)[-4096:]
                # The final record is the only line that starts with {"ok".
                last = self.tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
                if self.tail.endswith(b"\n") and last.startswith(b'{"ok"'):
                    break
        except Exception as e:  # noqa: BLE001  (reported by the test)
            self.error = e
        finally:
            self.started.set()
            self.done.set()
            self.s.close()


class FairnessTest(lib.DaemonTest):
    def loaded(self):
        d = self.daemon().start()
        body = b"".join(('{"type":"account","id":"A%d","account":"C-%06d","name":"N","currency":"CNY","size":"small"}\n'
                         % (i, i)).encode() for i in range(ACCOUNTS))
        r = d.ingest(body)
        self.assertEqual(r.rc, 0, r.stderr)
        return d

    def test_a_long_reply_read_fast_does_not_hold_up_a_small_request(self):
        d = self.loaded()
        c = d.connect()
        f = c.makefile("rb")
        lib.request(c, {"v": 1, "cmd": "status"})  # connected and served once
        self.assertTrue(lib.read_reply(c, f)[1]["ok"])
        for _ in range(3):
            hogs = [FastReader(d.sock, {"v": 1, "cmd": "accounts"}) for _ in range(2)]
            for h in hogs:
                h.start()
            for h in hogs:
                self.assertTrue(h.started.wait(60))
            lib.request(c, {"v": 1, "cmd": "status"})
            recs, fin = lib.read_reply(c, f)
            got = [h.got for h in hogs]
            done = [h.done.is_set() for h in hogs]
            for h in hogs:
                h.join(60)
                self.assertIsNone(h.error)
            total = hogs[0].got
            self.assertTrue(fin["ok"])
            self.assertEqual(recs[0]["accounts"], ACCOUNTS)
            # Each hog gets about 64 KiB a pass: the status request, read
            # in the pass after it arrived, is answered long before the
            # 5 MB of accounts are through (before: after all of them).
            for g, dn in zip(got, done):
                self.assertFalse(dn, "the status reply came after a whole accounts reply")
                self.assertLess(g, total // 4, "status answered after %d of %d bytes" % (g, total))

    def test_requests_sent_at_once_take_turns_with_other_clients(self):
        """One client's 300 acks sent in one write are begun one a loop
        pass: another client's request, sent once the first ack is
        answered, sees the consumer's cursor only a few acks on (before:
        all 300 were done first, each a commit)."""
        d = self.daemon().start()
        events = []
        for i in range(200):
            a = "F-%04d" % i
            events.append({"type": "account", "id": "a." + a, "account": a, "name": a,
                           "currency": "CNY", "size": "small"})
            events.append({"type": "invoice", "id": "i." + a, "account": a, "invoice": "I." + a,
                           "amount": 1000 + i, "issued": "2026-01-20", "due": "2026-02-20"})
        r = d.ingest(events)
        self.assertEqual(r.rc, 0, r.stderr)
        n = 300
        self.assertGreaterEqual(d.status()["feed_head"], n)
        a, b = d.connect(), d.connect()
        fa, fb = a.makefile("rb"), b.makefile("rb")
        lib.request(b, {"v": 1, "cmd": "status"})  # b connected and served
        self.assertTrue(lib.read_reply(b, fb)[1]["ok"])
        lib.request(a, b"".join(b'{"v":1,"cmd":"ack","consumer":"crm","seq":%d}\n' % s
                                for s in range(1, n + 1)))
        self.assertEqual(lib.read_reply(a, fa)[1]["seq"], 1)
        lib.request(b, {"v": 1, "cmd": "consumers"})
        recs, fin = lib.read_reply(b, fb)
        self.assertTrue(fin["ok"])
        cursor = {c["consumer"]: c["cursor"] for c in recs}["crm"]
        self.assertLess(cursor, n // 4, "the other client waited for %d acks" % cursor)
        # Every ack is still answered, in order.
        for s in range(2, n + 1):
            self.assertEqual(lib.read_reply(a, fa)[1]["seq"], s)
        lib.request(b, {"v": 1, "cmd": "consumers"})
        recs, _ = lib.read_reply(b, fb)
        self.assertEqual({c["consumer"]: c["cursor"] for c in recs}["crm"], n)

    def test_a_slow_reader_still_gets_its_reply(self):
        """The quantum does not stop a long reply: a client that reads
        a little at a time gets all of it, whole records, in order."""
        d = self.loaded()
        c = d.connect()
        f = c.makefile("rb")
        lib.request(c, {"v": 1, "cmd": "accounts"})
        ids = []
        while True:
            line = f.readline()
            rec = json.loads(line)
            if "ok" in rec:
                break
            ids.append(rec["account"])
            if len(ids) % 2000 == 0:
                time.sleep(0.01)
        self.assertTrue(rec["ok"])
        self.assertEqual(ids, ["C-%06d" % i for i in range(ACCOUNTS)])


if __name__ == "__main__":
    unittest.main()
