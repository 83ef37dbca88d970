"""The wall clock path (§4.3, §6): moments missed while dunnd was
stopped are processed at start, each with its own time, before READY=1;
under the wall clock now = max(system time, stored clock position)."""
import datetime
import unittest

from lib import DaemonTest, ingest_events, feed_records, account_records

TZ = datetime.timezone(datetime.timedelta(hours=8))


class WallClock(DaemonTest):
    def test_missed_midnights_are_processed_before_ready(self):
        # A test clock three days in the past, then the wall clock.
        past = (datetime.datetime.now(TZ) - datetime.timedelta(days=3)).replace(
            hour=9, minute=0, second=0, microsecond=0)
        due = past.date()
        d = self.daemon(clock=past.isoformat()).start()
        r, recs = ingest_events(d, [
            {"type": "account", "id": "e1", "account": "A", "name": "A Co",
             "currency": "CNY", "size": "small"},
            {"type": "invoice", "id": "e2", "account": "A", "invoice": "I-1",
             "amount": 1000, "issued": due.isoformat(), "due": due.isoformat()},
        ])
        self.assertEqual(r.returncode, 0, r.stderr)
        # days_to_due 0 at the batch: reminder at once (MINIMAL_RULES).
        self.assertEqual(account_records(d)["A"]["stage"], "reminder")
        self.assertEqual(d.stop(), 0)

        d.clock = None  # the wall clock from now on
        d.start()
        st = d.status()
        self.assertEqual(st["clock"], "wall")
        # The next local midnight after the due day made it overdue: that
        # moment was missed while stopped and is processed with its time.
        midnight = datetime.datetime.combine(
            due + datetime.timedelta(days=1), datetime.time(0, 0), TZ)
        tr = [x for x in feed_records(d) if x["kind"] == "transition"]
        self.assertEqual([(x["from"], x["to"], x["at"]) for x in tr], [
            ("current", "reminder", past.isoformat()),
            ("reminder", "negotiation", midnight.isoformat()),
        ])
        # The 3d call step fell due 3 days after that entry, if passed.
        tasks = [x for x in feed_records(d) if x["kind"] == "task"
                 and x["stage"] == "negotiation"]
        self.assertEqual(tasks[0]["created"], midnight.isoformat())
        a = account_records(d)["A"]
        self.assertEqual(a["stage"], "negotiation")
        self.assertGreaterEqual(a["days_overdue"], 2)

    def test_clock_command_needs_the_test_clock(self):
        d = self.daemon(clock=None).start()
        r = d.ctl("clock", "advance", "1d")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("test-clock", r.stderr)


if __name__ == "__main__":
    unittest.main()
