"""metrics (§7, §8): the Prometheus text exposition, parsed back and
checked against status, accounts and tasks on the same daemon; promtool
check metrics when promtool is installed; readers may scrape."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from lib import DUNNCTL, DUNND, ROOT, DaemonTest, ingest_events

UNIT = os.path.join(ROOT, "systemd", "dunnd-metrics.service")
TIMER = os.path.join(ROOT, "systemd", "dunnd-metrics.timer")
TEXTFILE = "/var/lib/prometheus/node-exporter/dunnd.prom"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{name: {labels tuple: value}} and {name: type}, checking the form:
    every sample belongs to a family announced by # HELP and # TYPE."""
    samples, types, helps = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            types[name] = typ
        else:
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            name, labels, value = m.groups()
            fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
            assert fam in types and fam in helps, "no HELP/TYPE for %s" % name
            key = tuple(LABEL.findall(labels or ""))
            samples.setdefault(name, {})[key] = float(value)
    return samples, types


class Metrics(DaemonTest):
    EVENTS = [
        {"type": "account", "id": "a1", "account": "A1", "name": "A", "currency": "CNY",
         "size": "small"},
        {"type": "account", "id": "a2", "account": "A2", "name": "B", "currency": "CNY",
         "size": "small"},
        {"type": "invoice", "id": "i1", "account": "A1", "invoice": "I1", "amount": 5000,
         "issued": "2026-02-01", "due": "2026-02-20"},
    ]

    def scrape(self, d):
        r = d.ctl("metrics")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_metrics_match_status_and_accounts(self):
        d = self.daemon(clock="2026-03-02T09:00:00+08:00").start()
        r, _ = ingest_events(d, self.EVENTS)
        self.assertEqual(r.returncode, 0)
        # A batch that does not commit: one duplicate, one error, one ok
        # line rolled back.
        r, _ = ingest_events(d, [self.EVENTS[0],
                                 {"type": "invoice", "id": "bad", "account": "NOPE",
                                  "invoice": "X", "amount": 1, "issued": "2026-02-01",
                                  "due": "2026-02-02"},
                                 {"type": "account", "id": "a3", "account": "A3", "name": "C",
                                  "currency": "CNY", "size": "small"}])
        self.assertEqual(r.returncode, 1)
        d.ctl("ack", "--consumer", "crm", "1")
        d.ctl("clock", "advance", "1d")
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        s, types = parse(self.scrape(d))
        st = d.status()
        accts = d.accounts()
        self.assertEqual(s["dunnd_accounts"],
                         {(("stage", k),): float(v) for k, v in st["stages"].items()})
        self.assertEqual(sum(s["dunnd_accounts"].values()), len(accts))
        self.assertEqual(s["dunnd_feed_head"][()], st["feed_head"])
        self.assertEqual(s["dunnd_consumer_lag"], {(("consumer", "crm"),): st["feed_head"] - 1})
        self.assertEqual(s["dunnd_events_total"],
                         {(("status", "ok"),): 3, (("status", "duplicate"),): 1,
                          (("status", "error"),): 1, (("status", "rolled_back"),): 1})
        self.assertEqual(s["dunnd_batches_total"][()], 2)
        self.assertEqual(s["dunnd_reloads_total"][()], st["reloads"])
        self.assertEqual(s["dunnd_last_reload_success"][()], 1)
        self.assertEqual(s["dunnd_rules_info"], {(("version", st["rules_version"]),): 1})
        open_tasks = [t for t in d.ctl_json("--json", "tasks", "--open")[1]]
        by_type = {}
        for t in open_tasks:
            by_type[t["type"]] = by_type.get(t["type"], 0) + 1
        self.assertTrue(by_type)
        for (lab,), v in s["dunnd_tasks_open"].items():
            self.assertEqual(v, by_type.get(lab[1], 0), lab)
        # The oldest open task was created 2 March 09:00; now is 3 March 09:00.
        self.assertEqual(s["dunnd_oldest_open_task_age_seconds"][()], 86400)
        self.assertEqual(types["dunnd_batch_commit_seconds"], "histogram")
        self.assertEqual(s["dunnd_batch_commit_seconds_count"][()], 2)
        self.assertEqual(s["dunnd_batch_commit_seconds_bucket"][(("le", "+Inf"),)], 2)
        self.assertEqual(s["dunnd_evaluation_seconds_count"][()], 2)
        self.assertGreater(s["dunnd_resident_memory_bytes"][()], 1 << 20)
        # The checkpointer copies the WAL into the database meanwhile:
        # the file only grows, by whole pages.
        self.assertGreater(s["dunnd_database_bytes"][()], 0)
        self.assertLessEqual(s["dunnd_database_bytes"][()], os.path.getsize(d.db))
        self.assertEqual(s["dunnd_database_bytes"][()] % 4096, 0)
        self.assertGreaterEqual(s["dunnd_wal_bytes"][()], 0)
        self.assertGreater(s["dunnd_clock_position_seconds"][()], 0)
        # A refused reload.
        with open(os.path.join(d.tmp, "rules", "20-bad.conf"), "w") as f:
            f.write("stages = oops\n")
        self.assertEqual(d.ctl("reload").returncode, 1)
        s, _ = parse(self.scrape(d))
        self.assertEqual(s["dunnd_last_reload_success"][()], 0)
        self.assertEqual(s["dunnd_reloads_total"][()], 2)

    def test_json_is_one_record_with_the_text(self):
        d = self.daemon().start()
        r, recs = d.ctl_json("metrics")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(len(recs), 1)
        self.assertEqual(list(recs[0]), ["text"])
        self.assertIn("# TYPE dunnd_feed_head gauge", recs[0]["text"])
        self.assertEqual(d.ctl("metrics", "extra").returncode, 2)

    def test_promtool_check_metrics(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool not found: it comes with Debian's prometheus package "
                          "(apt-get install prometheus)")
        d = self.daemon().start()
        ingest_events(d, self.EVENTS)
        d.ctl("ack", "--consumer", "crm", "1")
        text = self.scrape(d)
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, "")


def exec_start():
    """The unit's ExecStart command line, systemd's $$ unescaped."""
    with open(UNIT) as f:
        for line in f:
            if line.startswith("ExecStart="):
                return line[len("ExecStart="):].strip().replace("$$", "$")
    raise AssertionError("no ExecStart in " + UNIT)


class Timer(DaemonTest):
    def test_the_service_writes_the_file_atomically(self):
        d = self.daemon().start()
        ingest_events(d, Metrics.EVENTS)
        out = os.path.join(self.tmp, "node-exporter")
        os.makedirs(out)
        cmd = (exec_start().replace(TEXTFILE, os.path.join(out, "dunnd.prom"))
               .replace("/usr/bin/dunnctl", DUNNCTL + " -s " + d.sock))
        self.assertTrue(cmd.startswith("/bin/sh -c '"), cmd)
        r = subprocess.run(["/bin/sh", "-c", cmd[len("/bin/sh -c '"):-1]],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Only the final file is left, world-readable, and it is a scrape.
        self.assertEqual(os.listdir(out), ["dunnd.prom"])
        self.assertEqual(os.stat(os.path.join(out, "dunnd.prom")).st_mode & 0o777, 0o644)
        with open(os.path.join(out, "dunnd.prom")) as f:
            s, _ = parse(f.read())
        self.assertEqual(sum(s["dunnd_accounts"].values()), 2)
        # With dunnd gone the old file stays and no temporary is left.
        d.stop()
        r = subprocess.run(["/bin/sh", "-c", cmd[len("/bin/sh -c '"):-1]],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(os.listdir(out), ["dunnd.prom"])

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed: apt-get install systemd")
    def test_units_verify_clean(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(UNIT) as f:
                text = f.read().replace("/usr/bin/dunnctl", DUNNCTL)
            with open(os.path.join(tmp, "dunnd-metrics.service"), "w") as f:
                f.write(text)
            shutil.copy(TIMER, tmp)
            r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                os.path.join(tmp, "dunnd-metrics.service"),
                                os.path.join(tmp, "dunnd-metrics.timer")],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout + r.stderr, "")
            r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                                os.path.join(tmp, "dunnd-metrics.service")],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for dunnd-metrics\.service: ([0-9.]+)",
                          r.stdout)
            self.assertIsNotNone(m, r.stdout + r.stderr)
            self.assertLessEqual(float(m.group(1)), 1.0, r.stdout)

    def test_make_install_installs_them(self):
        with tempfile.TemporaryDirectory() as dest:
            r = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest,
                                "B=" + os.path.relpath(os.path.dirname(DUNND), ROOT)],
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for name in ("dunnd-metrics.service", "dunnd-metrics.timer"):
                st = os.stat(os.path.join(dest, "lib/systemd/system", name))
                self.assertEqual(st.st_mode & 0o777, 0o644, name)
            r = subprocess.run(["make", "-s", "-C", ROOT, "uninstall", "DESTDIR=" + dest],
                               capture_output=True, text=True, timeout=60)
            self.assertFalse(os.path.exists(
                os.path.join(dest, "lib/systemd/system/dunnd-metrics.timer")))


if __name__ == "__main__":
    unittest.main()
