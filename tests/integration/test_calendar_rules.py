"""The calendar, holidays and schedules of a rule set through the real
binaries: check-rules offline, reload and simulate handle them like every
other key -- a good set is taken, a bad one refused with every error as
FILE:LINE: and nothing changed.  (The windows of emitted tasks are
tested with the evaluation.)
"""
import os
import re
import shutil
import subprocess

from lib import DUNNCTL, ROOT, MINIMAL_RULES, DaemonTest

CALENDAR = """calendar = { hours = ["09:00-12:00", "13:30-18:00"]; };
schedules = (
  { name = "calls"; types = ["call"]; hours = ["14:00-17:30"];
    prefer = ["fri", "thu", "tue"]; avoid = ["mon", "wed"]; defer_days = 2; cash_in = true; }
);
"""

# Three files: the errors come in file order, then line order, in one run.
BAD_CALENDAR = """calendar = { hours = ["09:00-12:00",
  "11:00-13:00"]; workdays = ["mon", "Tue"]; };
schedules = (
  { name = "calls"; types = ["call", "fax"]; hours = ["14:00-17:30"];
    prefer = ["fri"]; avoid = ["fri"]; defer_days = 40; }
);
"""
BAD_HOLIDAYS = """holidays = [ "2028-10-02",
  "2028-02-30",
  "2028-10-02" ];
"""
BAD_WANT = [
    '05-calendar.conf:2: calendar: workdays: bad weekday "Tue" (allowed: mon, tue, wed, thu, fri, sat, sun)',
    '05-calendar.conf:2: calendar: hours: window "11:00-13:00" overlaps or comes before the one before it (windows ascending, without overlaps)',
    '05-calendar.conf:4: schedule "calls": types: unknown task type "fax" (allowed: call, visit, letter, email, sms, credit_hold, credit_release, review, legal_referral)',
    '05-calendar.conf:5: schedule "calls": avoid: "fri" is also in prefer',
    '05-calendar.conf:5: schedule "calls": defer_days must be an integer from 0 to 31',
    '15-holidays.conf:2: holidays: bad date "2028-02-30" (YYYY-MM-DD, a real date, years 1970-9999)',
    '15-holidays.conf:3: holidays: 2028-10-02 is repeated (first at 15-holidays.conf:1)',
]


def check_rules(path):
    """`dunnctl check-rules PATH`; its summary line (after any error or
    warning: "rules ok, version ..., 0 errors, 1 warning") checked and left
    out of stdout."""
    r = subprocess.run([DUNNCTL, "check-rules", path], capture_output=True, text=True,
                       timeout=60)
    out = r.stdout.splitlines(keepends=True)
    if out:
        assert re.match(r"^rules (ok, version [0-9a-f]{32},|refused:) "
                        r"\d+ errors?, \d+ warnings?\n$", out[-1]), r.stdout
        r.stdout = "".join(out[:-1])
    return r


class CalendarRules(DaemonTest):

    def write(self, d, name, text):
        path = os.path.join(d.tmp, "rules", name)
        if text is None:
            os.unlink(path)
            return
        with open(path, "w") as f:
            f.write(text)

    def test_shipped_rules_are_clean(self):
        """check-rules on the default set: no error, no warning."""
        r = check_rules(os.path.join(ROOT, "rules"))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_check_rules_reports_every_calendar_error(self):
        rules = os.path.join(self.tmp, "rules")
        shutil.copytree(os.path.join(ROOT, "rules"), rules)
        # The default calendar replaced by a broken one, plus a broken
        # holidays file; a warning of its own in a third file.
        os.unlink(os.path.join(rules, "05-calendar.conf"))
        with open(os.path.join(rules, "05-calendar.conf"), "w") as f:
            f.write(BAD_CALENDAR)
        with open(os.path.join(rules, "15-holidays.conf"), "w") as f:
            f.write(BAD_HOLIDAYS)
        r = check_rules(rules)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        got = (r.stdout + r.stderr).splitlines()
        self.assertEqual([l for l in got if "05-calendar" in l or "15-holidays.conf" in l],
                         BAD_WANT)
        # A warning alone does not fail.
        shutil.copy(os.path.join(ROOT, "rules", "05-calendar.conf"), rules)
        with open(os.path.join(rules, "15-holidays.conf"), "w") as f:
            f.write('\nschedules = ( { name = "texts"; types = ["sms"]; } );\n')
        r = check_rules(rules)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0,
            '15-holidays.conf:2: warning: schedule "texts" is never used: no task names it '
            'and no stage or alert task has a type in its types\n'))

    def test_reload_takes_a_calendar_and_refuses_a_bad_one(self):
        d = self.daemon().start()
        v0 = d.status()["rules_version"]
        self.write(d, "05-calendar.conf", CALENDAR)
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        v1 = d.status()["rules_version"]
        self.assertNotEqual(v1, v0)
        # A bad calendar and holidays: refused, every error named, the
        # running set unchanged.
        self.write(d, "05-calendar.conf", BAD_CALENDAR)
        self.write(d, "15-holidays.conf", BAD_HOLIDAYS)
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for line in BAD_WANT:
            self.assertIn(line, r.stdout + r.stderr)
        st = d.status()
        self.assertEqual(st["rules_version"], v1)
        self.assertFalse(st["last_reload"]["ok"])
        # simulate reads the same files and refuses them the same way.
        r = d.ctl("simulate", "--rules", os.path.join(d.tmp, "rules"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(BAD_WANT[-1], r.stdout + r.stderr)
        # Top-level holidays without a calendar are an error too.
        self.write(d, "05-calendar.conf", None)
        self.write(d, "15-holidays.conf", 'holidays = [ "2028-10-02" ];\n')
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("15-holidays.conf:1: holidays needs a calendar", r.stdout + r.stderr)
        self.assertEqual(d.status()["rules_version"], v1)
        d.stop()


if __name__ == "__main__":
    import unittest
    unittest.main()
