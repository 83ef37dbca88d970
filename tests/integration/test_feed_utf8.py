"""Feed records are JSON, so UTF-8, whatever the rules' names hold.

* libconfig reads "\\xE9" in a string as the byte 0xE9: the loader
  refuses every string of a rule file that is not UTF-8, at FILE:LINE
  (check-rules, start and reload alike).
* A record that is still not UTF-8 -- a task's source is cut to its
  buffer (159 bytes), which can split a long name's character -- is not
  committed: its step fails (as when jansson built the records and
  refused such a string), the batch is rolled back, the log says why,
  and the feed keeps only valid records.
"""
import json
import os
import subprocess
import unittest

from lib import DUNNCTL, DaemonTest, ingest_events

BAD_BYTES = r"""
stages = (
  { name = "current"; },
  { name = "n\xE9gociation"; tasks = ( { type = "call"; script = "s"; } ); }
);
rules = (
  { name = "overdue"; from = ["current"];
    to = "n\xE9gociation"; when = { days_overdue = { min = 1; }; }; }
);
scripts = ( { name = "s"; checklist = [ "ok",
    "bad \xff" ]; } );
"""

# 157 bytes of UTF-8: "stage:NAME#1" is cut to 159 bytes inside a character.
LONG = "x" + "\u9636" * 52
LONG_NAME = """
stages = (
  { name = "current"; },
  { name = "%s"; tasks = ( { type = "call"; } ); }
);
rules = (
  { name = "overdue"; from = ["current"]; to = "%s";
    when = { days_overdue = { min = 1; }; }; }
);
""" % (LONG, LONG)


class FeedUtf8(DaemonTest):
    def test_check_rules_refuses_strings_that_are_not_utf8(self):
        rules = os.path.join(self.tmp, "rules")
        os.makedirs(rules)
        with open(os.path.join(rules, "10-rules.conf"), "w") as f:
            f.write(BAD_BYTES)
        r = subprocess.run([DUNNCTL, "check-rules", rules], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        for where in ("10-rules.conf:4: name:", "10-rules.conf:8: to:",
                      "10-rules.conf:11: checklist:"):
            self.assertIn(where + " the string is not valid UTF-8", out)

    def test_a_record_that_is_not_utf8_is_not_committed(self):
        self.assertEqual(len(LONG.encode()), 157)
        d = self.daemon(rules=LONG_NAME)
        d.start()
        r, res = ingest_events(d, [{"type": "account", "id": "a-B", "account": "B", "name": "B",
                                    "currency": "CNY", "size": "small"}])
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
