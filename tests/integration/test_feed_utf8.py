"""Feed records are JSON, so UTF-8, whatever the rules' names hold.

The rule loader takes libconfig's bytes, and libconfig reads "\\xE9" as
one byte: a stage so named makes records that are not UTF-8.  The step
that would write them is not committed (as when jansson built the
records and refused such a string): the batch is rolled back, the feed
keeps only valid records, and the log says why.
"""
import json
import unittest

from lib import DaemonTest, feed_records, ingest_events

RULES = r"""
stages = (
  { name = "current"; },
  { name = "n\xE9gociation"; tasks = ( { type = "call"; } ); }
);
rules = (
  { name = "overdue"; from = ["current"]; to = "n\xE9gociation";
    when = { days_overdue = { min = 1; }; }; }
);
"""


class FeedUtf8(DaemonTest):
    def test_a_record_that_is_not_utf8_is_not_committed(self):
        d = self.daemon(rules=RULES)
        d.start()
        ok = [{"type": "account", "id": "a-B", "account": "B", "name": "B", "currency": "CNY",
               "size": "small"}]
        r, res = ingest_events(d, ok)
        self.assertEqual(r.returncode, 0, r.stderr)
        head = d.status()["feed_head"]
        overdue = [{"type": "account", "id": "a-A", "account": "A", "name": "A",
                    "currency": "CNY", "size": "small"},
                   {"type": "invoice", "id": "i-A", "account": "A", "invoice": "IA",
                    "amount": 100, "issued": "2026-02-01", "due": "2026-02-20"}]
        r, res = ingest_events(d, overdue)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual([x["status"] for x in res], ["rolled_back", "rolled_back"])
        self.assertIn("engine: a feed record is not valid UTF-8", d.log())
        self.assertEqual(d.status()["feed_head"], head)
        self.assertNotIn("A", d.accounts())
        # What the feed holds reads back as UTF-8 JSON.
        r = d.ctl("--json", "feed", "--from", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        for line in r.stdout.splitlines():
            json.loads(line)


if __name__ == "__main__":
    unittest.main()
