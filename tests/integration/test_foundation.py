"""Foundation: start, status, stop, locking, damaged files, framing (§6-§8)."""
import json
import os
import signal
import socket
import subprocess
import time

from lib import DUNNCTL, DUNND, WRAPPER, DaemonTest, lines, read_reply, request


class StartStop(DaemonTest):
    def test_status_json_has_the_contract_fields(self):
        d = self.daemon().start()
        st = d.status()
        for k in ("rules_version", "accounts", "stages", "feed_head", "now", "reloads"):
            self.assertIn(k, st)
        self.assertNotIn("last_reload", st)
        self.assertEqual(st["stages"], {"current": 0, "reminder": 0, "negotiation": 0})
        self.assertEqual(list(st["stages"]), ["current", "reminder", "negotiation"])
        self.assertEqual(st["now"], "2026-03-02T09:00:00+08:00")
        self.assertEqual(st["feed_head"], 0)
        self.assertEqual(st["accounts"], 0)
        self.assertRegex(st["rules_version"], r"^[0-9a-f]{32}$")

    def test_status_human(self):
        d = self.daemon().start()
        r = d.ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("negotiation", r.stdout)
        self.assertIn("2026-03-02T09:00:00+08:00", r.stdout)

    def test_options_may_follow_the_command(self):
        d = self.daemon().start()
        r = subprocess.run([DUNNCTL, "status", "--json", "-s", d.sock], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(lines(r.stdout)), 1)
        r = subprocess.run([DUNNCTL, "-c", d.conf, "status", "--json"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_sigterm_exits_0_and_removes_the_socket(self):
        d = self.daemon().start()
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertFalse(os.path.exists(d.sock))
        self.assertIn("stopped", d.log())

    def test_sigint_exits_0(self):
        d = self.daemon().start()
        self.assertEqual(d.stop(signal.SIGINT), 0)

    def test_second_instance_exits_1_naming_the_pid(self):
        d = self.daemon().start()
        p = d.spawn()
        self.assertEqual(p.wait(30), 1)
        self.assertIn("database in use by pid %d" % d.proc.pid, d.log())
        self.assertEqual(d.ctl("status").returncode, 0)

    def test_stale_socket_file_is_replaced(self):
        d = self.daemon()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(d.sock)
        s.close()  # leaves the file, nobody listening
        d.start()
        self.assertEqual(d.ctl("status").returncode, 0)

    def test_socket_mode_0660(self):
        d = self.daemon().start()
        self.assertEqual(os.stat(d.sock).st_mode & 0o777, 0o660)

    def test_restart_keeps_the_clock_position(self):
        d = self.daemon(clock="2026-03-02T09:00:00+08:00").start()
        self.assertEqual(d.stop(), 0)
        d.clock = "2026-03-05T10:00:00+08:00"
        d.start()
        self.assertEqual(d.status()["now"], "2026-03-05T10:00:00+08:00")

    def test_wall_clock_now_is_formatted_in_the_zone(self):
        d = self.daemon(clock=None).start()
        self.assertRegex(d.status()["now"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
        self.assertEqual(d.status()["clock"], "wall")


class Notify(DaemonTest):
    def test_notify_socket_gets_ready_and_stopping(self):
        d = self.daemon()
        path = os.path.join(self.tmp, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(60)
        d.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        got = []
        deadline = time.monotonic() + 30
        while not any("WATCHDOG=1" in g for g in got) and time.monotonic() < deadline:
            got.append(ns.recv(4096).decode())
        self.assertTrue(any("READY=1" in g for g in got), got)
        self.assertTrue(any("WATCHDOG=1" in g for g in got), got)
        self.assertEqual(d.stop(), 0)
        rest = []
        ns.settimeout(0.5)
        try:
            while True:
                rest.append(ns.recv(4096).decode())
        except socket.timeout:
            pass
        self.assertTrue(any("STOPPING=1" in g for g in rest), rest)


class BadStart(DaemonTest):
    def run_dunnd(self, d, *extra):
        return subprocess.run(WRAPPER + [DUNND, "-c", d.conf, "-f"] + list(extra),
                              capture_output=True, text=True, timeout=60)

    def test_unknown_setting_is_file_line(self):
        d = self.daemon()
        with open(d.conf, "a") as f:
            f.write("colour = \"blue\";\n")
        r = self.run_dunnd(d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("dunnd.conf:6: unknown setting \"colour\"", r.stderr)

    def test_missing_timezone(self):
        d = self.daemon()
        with open(d.conf, "w") as f:
            f.write('database = "dunnd.db";\nrules = "rules";\n')
        r = self.run_dunnd(d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("timezone", r.stderr)

    def test_unknown_timezone(self):
        d = self.daemon(timezone="Mars/Olympus")
        r = self.run_dunnd(d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("dunnd.conf:4: timezone: unknown time zone", r.stderr)

    def test_rule_errors_stop_the_start(self):
        d = self.daemon(rules='stages = ( { name = "a"; } );\nbogus = 1;\n')
        r = self.run_dunnd(d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("10-rules.conf:2:", r.stderr)
        self.assertFalse(os.path.exists(d.db))

    def test_check_ok_and_bad(self):
        d = self.daemon()
        self.assertEqual(self.run_dunnd(d, "--check").returncode, 0)
        self.assertFalse(os.path.exists(d.sock))
        with open(os.path.join(d.tmp, "rules", "20-bad.conf"), "w") as f:
            f.write("rules = ( { name = \"x\"; from = \"nowhere\"; to = \"current\"; when = { }; } );\n")
        r = self.run_dunnd(d, "--check")
        self.assertEqual(r.returncode, 1)
        self.assertIn("20-bad.conf:1:", r.stderr)

    def test_bad_test_clock(self):
        d = self.daemon()
        r = self.run_dunnd(d, "--test-clock=2026-13-01T00:00:00Z")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--test-clock", r.stderr)

    def damaged(self, content):
        d = self.daemon()
        with open(d.db, "wb") as f:
            f.write(content)
        r = self.run_dunnd(d)
        self.assertEqual(r.returncode, 1)
        with open(d.db, "rb") as f:
            self.assertEqual(f.read(), content, "the damaged file was modified")
        self.assertFalse(os.path.exists(d.db + "-wal"))
        return r.stderr

    def test_garbage_database_is_refused_and_untouched(self):
        err = self.damaged(b"this is not a database\n" * 300)
        self.assertIn("not a SQLite database", err)

    def test_truncated_database_is_refused_and_untouched(self):
        d = self.daemon(sub="good").start()
        self.assertEqual(d.stop(), 0)
        with open(d.db, "rb") as f:
            data = f.read()
        self.assertGreater(len(data), 8192)
        err = self.damaged(data[: len(data) // 2 - 100])
        self.assertIn("refusing to start", err)

    def test_truncated_to_whole_pages_is_refused(self):
        d = self.daemon(sub="good").start()
        self.assertEqual(d.stop(), 0)
        with open(d.db, "rb") as f:
            data = f.read()
        psize = int.from_bytes(data[16:18], "big")
        err = self.damaged(data[: psize * 2])
        self.assertIn("truncated", err)


class Framing(DaemonTest):
    def test_garbage_gets_an_error_and_the_connection_stays_usable(self):
        d = self.daemon().start()
        s = d.connect()
        f = s.makefile("rb")
        for bad, why in ((b"this is not json\n", "malformed"),
                         (b"[1,2]\n", "not a JSON object"),
                         (b'{"cmd":"status"}\n', "missing \"v\""),
                         (b'{"v":2,"cmd":"status"}\n', "version"),
                         (b'{"v":1}\n', "missing \"cmd\""),
                         (b'{"v":1,"cmd":"dance"}\n', "unknown command"),
                         (b'{"v":1,"cmd":"status","colour":1}\n', "unknown field"),
                         (b'{"v":1,"cmd":"tasks","open":"yes"}\n', "open"),
                         (b'{"v":1,"cmd":"status","cmd":"status"}\n', "malformed"),
                         (b'{"v":1,"cmd":"st\xffatus"}\n', "malformed")):
            request(s, bad)
            recs, fin = read_reply(s, f)
            self.assertEqual(recs, [])
            self.assertIs(fin["ok"], False, bad)
            self.assertIn(why, fin["error"], bad)
        request(s, {"v": 1, "cmd": "status"})
        recs, fin = read_reply(s, f)
        self.assertIs(fin["ok"], True)
        self.assertIn("rules_version", recs[0])

    def test_requests_are_answered_in_order(self):
        d = self.daemon().start()
        s = d.connect()
        f = s.makefile("rb")
        request(s, b'{"v":1,"cmd":"status"}\n{"v":1,"cmd":"nope"}\r\n\n  \n{"v":1,"cmd":"status"}\n')
        a = read_reply(s, f)
        b = read_reply(s, f)
        c = read_reply(s, f)
        self.assertIs(a[1]["ok"], True)
        self.assertIs(b[1]["ok"], False)
        self.assertIs(c[1]["ok"], True)

    def test_half_request_and_silent_clients_do_not_block_others(self):
        d = self.daemon().start()
        idle = [d.connect() for _ in range(20)]
        half = d.connect()
        request(half, b'{"v":1,"cmd":"sta')
        body = d.connect()
        request(body, b'{"v":1,"cmd":"ingest","bytes":1000000}\n' + b"x" * 10)
        for _ in range(5):
            self.assertEqual(d.ctl("status").returncode, 0)
        request(half, b'tus"}\n')
        recs, fin = read_reply(half)
        self.assertIs(fin["ok"], True)
        for s in idle + [half, body]:
            s.close()

    def test_request_too_long_closes_the_connection(self):
        d = self.daemon().start()
        s = d.connect()
        f = s.makefile("rb")
        try:
            s.sendall(b'{"v":1,"cmd":"status","x":"' + b"a" * (1024 * 1024 + 10))
        except (BrokenPipeError, ConnectionResetError):
            pass
        recs, fin = read_reply(s, f)
        self.assertEqual(fin, {"ok": False, "error": "request too long"})
        self.assertEqual(f.readline(), b"")
        self.assertEqual(d.ctl("status").returncode, 0)

    def test_refused_request_body_is_discarded(self):
        d = self.daemon().start()
        s = d.connect()
        f = s.makefile("rb")
        body = b'{"v":1,"cmd":"status"}\n' * 10
        # An unknown field refuses the request; its body must not be read as requests.
        request(s, b'{"v":1,"cmd":"ingest","bytes":%d,"colour":1}\n' % len(body) + body)
        recs, fin = read_reply(s, f)
        self.assertIs(fin["ok"], False)
        request(s, {"v": 1, "cmd": "status"})
        recs, fin = read_reply(s, f)
        self.assertIs(fin["ok"], True)
        self.assertEqual(len(recs), 1)

    def test_unusable_bytes_closes(self):
        d = self.daemon().start()
        s = d.connect()
        f = s.makefile("rb")
        request(s, b'{"v":1,"cmd":"ingest","bytes":-5}\n')
        recs, fin = read_reply(s, f)
        self.assertIs(fin["ok"], False)
        self.assertIn("bytes", fin["error"])
        self.assertEqual(f.readline(), b"")

    def test_max_clients(self):
        d = self.daemon(conf_extra="max_clients = 3;\n").start()
        # Three clients the daemon has accepted, as a reply on each proves
        # (a fixed sleep did not on a loaded machine, and the start's own
        # dunnctl may still count until the daemon sees it close).
        held, deadline = [], time.monotonic() + 10
        while len(held) < 3:
            self.assertLess(time.monotonic(), deadline)
            s = d.connect()
            try:
                request(s, {"v": 1, "cmd": "status"})
                fin = read_reply(s)[1]
            except (BrokenPipeError, ConnectionResetError):
                fin = {}
            if fin.get("ok") is True:
                held.append(s)
            else:
                s.close()
                time.sleep(0.05)
        extra = d.connect()
        f = extra.makefile("rb")
        self.assertEqual(json.loads(f.readline()), {"ok": False, "error": "too many clients"})
        r = d.ctl("status")
        self.assertEqual(r.returncode, 3)
        for s in held:
            s.close()
        deadline = time.monotonic() + 10
        while d.ctl("status").returncode != 0:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)

    def test_many_clients_at_once(self):
        d = self.daemon().start()
        socks = [d.connect() for _ in range(200)]
        for s in socks:
            request(s, {"v": 1, "cmd": "status"})
        for s in socks:
            recs, fin = read_reply(s)
            self.assertIs(fin["ok"], True)
            s.close()

    def test_sigterm_with_a_batch_half_sent(self):
        d = self.daemon().start()
        s = d.connect()
        f = s.makefile("rb")
        request(s, b'{"v":1,"cmd":"ingest","bytes":100}\n{"type":')
        time.sleep(0.2)
        self.assertEqual(d.stop(), 0)
        recs, fin = read_reply(s, f)
        self.assertEqual(fin, {"ok": False, "error": "shutting down"})


class Client(DaemonTest):
    def test_unreachable_exits_3(self):
        r = subprocess.run([DUNNCTL, "-s", os.path.join(self.tmp, "none.sock"), "status"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 3)
        self.assertIn("cannot reach dunnd", r.stderr)

    def test_usage_exits_2(self):
        for args in ([], ["frobnicate"], ["status", "extra"], ["-s"]):
            r = subprocess.run([DUNNCTL] + args, capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, args)

    def test_failed_command_exits_1(self):
        d = self.daemon().start()
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(d.tmp, "rules", "20-bad.conf"), "w") as f:
            f.write("bogus = 1;\n")
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("20-bad.conf:1:", r.stdout)
