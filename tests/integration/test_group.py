"""Group commit (§2.4): batches that arrive together are processed one
by one in arrival order, each all-or-nothing, and committed together;
the result is as if each had been processed and committed alone."""
import json
import unittest

from lib import DaemonTest, read_reply, request, account_records, feed_records


def body(events):
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def acct(eid, a):
    return {"type": "account", "id": eid, "account": a, "name": a + " Co",
            "currency": "CNY", "size": "small"}


def inv(eid, a, i, amount, due="2026-03-01"):
    return {"type": "invoice", "id": eid, "account": a, "invoice": i,
            "amount": amount, "issued": "2026-02-01", "due": due}


class GroupCommit(DaemonTest):
    def test_batches_sent_together_keep_their_own_fate(self):
        d = self.daemon().start()
        batches = []
        for k in range(12):
            a = "G-%02d" % k
            evs = [acct("a%d" % k, a), inv("i%d" % k, a, a + "-1", 1000 + k)]
            if k % 4 == 3:
                # A refused batch: an invoice of an unknown account.
                evs.append(inv("bad%d" % k, "NOPE", "X-%d" % k, 5))
            batches.append(evs)
        # A batch that depends on an earlier one of the same group.
        batches.append([{"type": "payment", "id": "p0", "account": "G-00",
                         "amount": 1000, "at": "2026-03-02T08:00:00+08:00"}])
        socks = [d.connect() for _ in batches]
        # Every request and body written before any reply is read: the
        # daemon sees them in one or a few loop iterations.
        for s, evs in zip(socks, batches):
            data = body(evs)
            request(s, json.dumps({"v": 1, "cmd": "ingest", "bytes": len(data)}).encode()
                    + b"\n" + data)
        finals = []
        for s in socks:
            recs, fin = read_reply(s)
            finals.append((recs, fin))
            s.close()
        for k, (recs, fin) in enumerate(finals[:12]):
            if k % 4 == 3:
                self.assertFalse(fin["ok"], fin)
                self.assertEqual([r["status"] for r in recs],
                                 ["rolled_back", "rolled_back", "error"])
            else:
                self.assertTrue(fin["ok"], fin)
                self.assertEqual(fin["counts"]["ok"], 2)
        self.assertTrue(finals[12][1]["ok"], finals[12])
        accts = account_records(d)
        self.assertEqual(sorted(accts), ["G-%02d" % k for k in range(12) if k % 4 != 3])
        self.assertEqual(accts["G-00"]["balance"], 0)
        self.assertEqual(accts["G-01"]["balance"], 1001)
        # The feed is gapless and only the committed batches' accounts
        # appear in it.
        feed = feed_records(d)
        self.assertEqual([r["seq"] for r in feed], list(range(1, len(feed) + 1)))
        self.assertFalse({r["account"] for r in feed} - set(accts))
        # The refused batches can be sent again and are accepted whole
        # once fixed; their ids were never recorded.
        s = d.connect()
        data = body([acct("a3", "G-03"), inv("i3", "G-03", "G-03-1", 1003)])
        request(s, json.dumps({"v": 1, "cmd": "ingest", "bytes": len(data)}).encode() + b"\n" + data)
        recs, fin = read_reply(s)
        self.assertTrue(fin["ok"], fin)
        self.assertEqual([r["status"] for r in recs], ["ok", "ok"])


if __name__ == "__main__":
    unittest.main()
