"""The shipped systemd unit and man pages (targets.md R6; deployment).

* `systemd-analyze security --offline=true` rates systemd/dunnd.service
  at an exposure of 1.0 or less, and `systemd-analyze verify` finds
  nothing to say about it (ExecStart pointed at the built dunnd, man
  pages not looked up) -- skipped where systemd-analyze is absent.
* The unit keeps what dunnd needs: Type=notify, a watchdog, SIGHUP for
  reload, its state and runtime directories, and no PrivateUsers= (peer
  credentials on the socket must be the real uids and groups, §7).
* `make install DESTDIR=...` lays out binaries, man pages, the unit,
  /etc/dunnd/dunnd.conf (§6's) and the rules; an edited configuration
  is kept on reinstall and left by uninstall.
* Every man page renders without a warning (groff -ww) -- skipped
  without groff.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from lib import DUNND, ROOT

UNIT = os.path.join(ROOT, "systemd", "dunnd.service")
MAN = os.path.join(ROOT, "man")


def unit_settings():
    with open(UNIT) as f:
        return [tuple(l.strip().split("=", 1)) for l in f if re.match(r"^[A-Za-z]+=", l)]


class Unit(unittest.TestCase):
    def test_what_dunnd_needs(self):
        s = dict(unit_settings())
        self.assertEqual(s["Type"], "notify")
        self.assertIn("WatchdogSec", s)
        self.assertIn("-HUP", s["ExecReload"])
        self.assertEqual((s["StateDirectory"], s["RuntimeDirectory"]), ("dunnd", "dunnd"))
        self.assertTrue(s["ExecStart"].split()[1:3] == ["-f", "-c"], s["ExecStart"])
        # In a user namespace SO_PEERCRED would show every peer as nobody.
        self.assertNotIn("PrivateUsers", s)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed: apt-get install systemd")
    def test_security_exposure_at_most_1(self):
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", UNIT],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for dunnd\.service: ([0-9.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        self.assertLessEqual(float(m.group(1)), 1.0, r.stdout)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed: apt-get install systemd")
    def test_verify_is_clean(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(UNIT) as f:
                text = f.read().replace("/usr/sbin/dunnd", DUNND)
            path = os.path.join(tmp, "dunnd.service")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run(["systemd-analyze", "verify", "--man=no", path],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, "")


class Install(unittest.TestCase):
    def make_install(self, dest):
        r = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest,
                            "B=" + os.path.relpath(os.path.dirname(DUNND), ROOT)],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def test_tree_and_a_config_that_checks(self):
        with tempfile.TemporaryDirectory() as dest:
            self.make_install(dest)
            for path, mode in (("usr/sbin/dunnd", 0o755), ("usr/bin/dunnctl", 0o755),
                               ("usr/share/man/man8/dunnd.8", 0o644),
                               ("usr/share/man/man1/dunnctl.1", 0o644),
                               ("lib/systemd/system/dunnd.service", 0o644),
                               ("etc/dunnd/dunnd.conf", 0o644)):
                st = os.stat(os.path.join(dest, path))
                self.assertEqual(st.st_mode & 0o777, mode, path)
            self.assertEqual(sorted(os.listdir(os.path.join(dest, "etc/dunnd/rules.d"))),
                             sorted(f for f in os.listdir(os.path.join(ROOT, "rules"))
                                    if f.endswith(".conf")))
            # The shipped configuration is §6's, and with its paths moved
            # under DESTDIR `dunnd --check` accepts it with the rules.
            with open(os.path.join(dest, "etc/dunnd/dunnd.conf")) as f:
                conf = f.read()
            self.assertIn('database     = "/var/lib/dunnd/dunnd.db"', conf)
            self.assertIn('socket       = "/run/dunnd/dunnd.sock"', conf)
            moved = os.path.join(dest, "check.conf")
            with open(moved, "w") as f:
                f.write(conf.replace("/etc/dunnd", dest + "/etc/dunnd")
                        .replace("/var/lib/dunnd", dest).replace("/run/dunnd", dest))
            r = subprocess.run([os.path.join(dest, "usr/sbin/dunnd"), "--check", "-c", moved],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_an_edited_config_is_kept_and_uninstall_leaves_it(self):
        with tempfile.TemporaryDirectory() as dest:
            self.make_install(dest)
            conf = os.path.join(dest, "etc/dunnd/dunnd.conf")
            with open(conf, "a") as f:
                f.write("# edited\n")
            r = self.make_install(dest)
            self.assertIn("kept", r.stdout)
            with open(conf) as f:
                self.assertTrue(f.read().endswith("# edited\n"))
            r = subprocess.run(["make", "-s", "-C", ROOT, "uninstall", "DESTDIR=" + dest],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertFalse(os.path.exists(os.path.join(dest, "usr/sbin/dunnd")))
            self.assertTrue(os.path.exists(conf))


class ManPages(unittest.TestCase):
    def test_pages_exist(self):
        self.assertTrue(os.path.exists(os.path.join(MAN, "dunnd.8")))
        self.assertTrue(os.path.exists(os.path.join(MAN, "dunnctl.1")))

    @unittest.skipUnless(shutil.which("groff"), "groff not installed: apt-get install groff-base (make test-deps installs it)")
    def test_render_without_warnings(self):
        for page in sorted(os.listdir(MAN)):
            r = subprocess.run(["groff", "-mandoc", "-ww", "-z", os.path.join(MAN, page)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)


if __name__ == "__main__":
    unittest.main()
