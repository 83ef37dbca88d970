"""The man pages' examples do what the pages say.

Users copy examples; a stale one misleads more than none.  The literal
blocks (.Bd -literal ... .Ed) are taken from the page sources and run:

* dunnd.rules(5): the complete rule set of EXAMPLES passes
  `dunnctl check-rules` without a word; the rule-cycle example is refused
  with the cycle the page quotes.
* dunnd-events(5): the example batch is accepted line by line, and its
  account is in negotiation with no call issued while its promise is
  pending (the default rule set holds the cadence then).
* dunnd-protocol(7): the ingest example's `bytes` is the length of the
  body it shows, and sent as shown the daemon answers with the reply the
  page shows.
* dunnd.conf(5): the configuration for a scratch directory passes
  `dunnd --check`.
* dunnctl(1): the rule fixture example passes `dunnctl test-rules` with
  the default rules -- skipped while dunnctl has no test-rules.
"""
import json
import os
import re
import shutil
import subprocess

from lib import DUNNCTL, DUNND, ROOT, DaemonTest, read_reply

MAN = os.path.join(ROOT, "man")


def literal_blocks(page):
    """The text of each .Bd -literal block of man/PAGE, unescaped."""
    with open(os.path.join(MAN, page)) as f:
        src = f.read()
    blocks = re.findall(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed$", src, re.M | re.S)
    out = []
    for b in blocks:
        b = b.replace("\\(dq", '"').replace("\\e", "\\").replace("\\&", "")
        out.append(b)
    return out


def block_starting(page, start):
    for b in literal_blocks(page):
        if b.startswith(start):
            return b
    raise AssertionError("%s has no example starting with %r" % (page, start))


def default_rules():
    with open(os.path.join(ROOT, "rules", "20-rules.conf")) as f:
        return f.read()


class RulesPage(DaemonTest):
    def check_rules(self, text, name="a.conf"):
        d = os.path.join(self.tmp, "rules-%d" % len(os.listdir(self.tmp)))
        os.makedirs(d)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        return subprocess.run([DUNNCTL, "check-rules", d], capture_output=True,
                              text=True, timeout=60)

    def test_complete_rule_set_is_clean(self):
        text = block_starting("dunnd.rules.5", "stages = (\n")
        self.assertIn("schedules = (", text)
        r = self.check_rules(text)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_cycle_example_is_refused_as_quoted(self):
        text = block_starting("dunnd.rules.5", 'stages = ( { name = "current"; }, { name = "reminder"')
        with open(os.path.join(MAN, "dunnd.rules.5")) as f:
            quoted = re.search(r"^\.Dl (cycle\.conf:\d+: rule cycle: .*)$", f.read(), re.M).group(1)
        r = self.check_rules(text, "cycle.conf")
        self.assertEqual((r.returncode, r.stdout + r.stderr),
                         (1, quoted + "\nrules refused: 1 error, 0 warnings\n"))


class EventsPage(DaemonTest):
    def test_example_batch_is_accepted(self):
        d = self.daemon(clock="2026-03-09T12:00:00+08:00", rules=None)
        shutil.rmtree(os.path.join(d.tmp, "rules"))
        shutil.copytree(os.path.join(ROOT, "rules"), os.path.join(d.tmp, "rules"))
        d.start()
        batch = block_starting("dunnd-events.5", '{"type":"account"')
        events = [json.loads(l) for l in batch.splitlines()]
        self.assertEqual([e["type"] for e in events],
                         ["account", "invoice", "payment", "promise"])
        r = d.ingest(batch.encode())
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([s for _, s in r.statuses()], ["ok"] * 4)
        acct = d.accounts()["C-2001"]
        self.assertEqual((acct["stage"], acct["balance"]), ("negotiation", 300000))
        rr, tasks = d.ctl_json("tasks", "--account", "C-2001")
        self.assertEqual([t for t in tasks if t["type"] == "call"], [], tasks)


class ProtocolPage(DaemonTest):
    def test_ingest_example(self):
        block = block_starting("dunnd-protocol.7", '{"v":1,"cmd":"ingest"')
        req, body = block.split("\n", 1)
        self.assertEqual(json.loads(req)["bytes"], len(body.encode()))
        reply = json.loads(block_starting("dunnd-protocol.7", '{"ok":true,"counts":{"ok":2,'))
        d = self.daemon(clock="2026-03-09T12:00:00+08:00").start()
        r = d.ingest([{"type": "account", "id": "setup-a", "account": "C-1101",
                       "name": "Example", "currency": "CNY", "size": "medium"},
                      {"type": "invoice", "id": "setup-i", "account": "C-1101",
                       "invoice": "I-1", "amount": 12672000, "issued": "2026-02-01",
                       "due": "2026-03-01"}])
        self.assertEqual(r.rc, 0, r)
        with d.connect() as s:
            s.sendall(block.encode())
            recs, final = read_reply(s)
        self.assertEqual((recs, final), ([], reply))


class ConfPage(DaemonTest):
    def test_scratch_configuration_checks(self):
        conf = block_starting("dunnd.conf.5", 'database = "var/dunnd.db";')
        os.makedirs(os.path.join(self.tmp, "var"))
        shutil.copytree(os.path.join(ROOT, "rules"), os.path.join(self.tmp, "rules"))
        with open(os.path.join(self.tmp, "dunnd.conf"), "w") as f:
            f.write(conf)
        # Run from elsewhere: relative paths are the file's folder's.
        r = subprocess.run([DUNND, "--check", "-c", os.path.join(self.tmp, "dunnd.conf")],
                           capture_output=True, text=True, timeout=60, cwd="/")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class DunnctlPage(DaemonTest):
    def test_fixture_example(self):
        fixture = block_starting("dunnctl.1", '{"start":')
        path = os.path.join(self.tmp, "example.jsonl")
        with open(path, "w") as f:
            f.write(fixture)
        r = subprocess.run([DUNNCTL, "test-rules", "--rules", os.path.join(ROOT, "rules"), path],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.rstrip().endswith("3 passed, 0 failed"), r.stdout)
