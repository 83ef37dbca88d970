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
* Every page under man/ renders without a warning under groff -ww and
  under mandoc -T lint (warnings and errors; its style notes depend on
  which manuals the machine has) -- each skipped without its tool.
* The reference pages exist, and nothing a user reads (man/, README.md,
  dunnd.conf, systemd/, rules/, examples/) cites the project's internal
  specification (interfaces.md or a § of it), which is neither shipped
  nor installed.
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
# The pages every installation must have (the man/ directory may hold more).
PAGES = ("dunnctl.1", "dunnd-events.5", "dunnd.conf.5", "dunnd.rules.5", "dunnd-protocol.7",
         "dunnd.8")
TOOLS_MISSING = "not installed: apt-get install groff-base mandoc (make test-deps installs them)"


def man_pages():
    """Every page under man/, as (name, section)."""
    return sorted((f, f.rsplit(".", 1)[1]) for f in os.listdir(MAN)
                  if re.fullmatch(r".+\.[1-8]", f))


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
                               ("lib/systemd/system/dunnd.service", 0o644),
                               ("etc/dunnd/dunnd.conf", 0o644)):
                st = os.stat(os.path.join(dest, path))
                self.assertEqual(st.st_mode & 0o777, mode, path)
            # Every page, in the directory of its section, and nothing else.
            man = os.path.join(dest, "usr/share/man")
            installed = sorted((f, d[3:]) for d in os.listdir(man)
                               for f in os.listdir(os.path.join(man, d)))
            self.assertEqual(installed, man_pages())
            for page in PAGES:
                self.assertIn(page, [f for f, _ in installed])
            for page, sec in installed:
                path = os.path.join(man, "man" + sec, page)
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o644, path)
                with open(path, "rb") as f, open(os.path.join(MAN, page), "rb") as g:
                    self.assertEqual(f.read(), g.read(), page)
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
            # --check resolves socket_group as a start does: on a machine
            # without the group "dunn" that is the one error.
            try:
                import grp
                grp.getgrnam("dunn")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            except KeyError:
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                errors = [l for l in r.stderr.splitlines() if "warning:" not in l]
                self.assertEqual(errors, [moved + ': socket_group: unknown group "dunn": '
                                          'the socket could not be given it'])

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
            for page, sec in man_pages():
                self.assertFalse(os.path.exists(
                    os.path.join(dest, "usr/share/man", "man" + sec, page)), page)
            self.assertTrue(os.path.exists(conf))


class ManPages(unittest.TestCase):
    def test_pages_exist(self):
        names = [f for f, _ in man_pages()]
        for page in PAGES:
            self.assertIn(page, names)
        # A page's .Dt names it: section and title match its file.
        for page, sec in man_pages():
            with open(os.path.join(MAN, page)) as f:
                m = re.search(r"^\.Dt (\S+) (\d)$", f.read(), re.M)
            self.assertIsNotNone(m, page)
            self.assertEqual((m.group(1), m.group(2)),
                             (page.rsplit(".", 1)[0].upper(), sec), page)

    @unittest.skipUnless(shutil.which("groff"), "groff " + TOOLS_MISSING)
    def test_groff_renders_without_warnings(self):
        for page, _ in man_pages():
            r = subprocess.run(["groff", "-mandoc", "-ww", "-z", os.path.join(MAN, page)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)

    @unittest.skipUnless(shutil.which("mandoc"), "mandoc " + TOOLS_MISSING)
    def test_mandoc_lint_without_warnings(self):
        # -W warning: warnings and errors.  Style notes are left out: one of
        # them ("referenced manual not found") depends on which pages the
        # machine has installed, not on ours.
        for page, _ in man_pages():
            r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning",
                                os.path.join(MAN, page)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), page)

    def test_mandoc_lint_sees_a_warning(self):
        # The lint above can fail: a page with a misplaced section fails it.
        if not shutil.which("mandoc"):
            self.skipTest("mandoc " + TOOLS_MISSING)
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.7")
            with open(bad, "w") as f:
                f.write(".Dd $Mdocdate$\n.Dt BAD 7\n.Os\n.Sh NAME\n.Nm bad\n"
                        ".Nd bad\n.Sh SEE ALSO\n.Sh DESCRIPTION\ntext\n")
            r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", bad],
                               capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.stdout + r.stderr, "")


class NoInternalCitations(unittest.TestCase):
    """Users have the man pages, not the project's specification."""

    def test_nothing_a_user_reads_cites_interfaces_md(self):
        paths = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "dunnd.conf")]
        for d in ("man", "systemd", "rules", "examples"):
            for top, _, files in os.walk(os.path.join(ROOT, d)):
                paths += [os.path.join(top, f) for f in files]
        self.assertGreater(len(paths), 10)
        for path in paths:
            with open(path, "rb") as f:
                text = f.read()
            where = os.path.relpath(path, ROOT)
            self.assertFalse(b"interfaces.md" in text, where + " cites interfaces.md")
            # Nor its sections: "§4.2" means nothing to a user; name the man
            # page and its section instead ("dunnd.rules(5), CONDITIONS").
            self.assertFalse("§".encode() in text,
                             where + " cites a section (§) of the specification")


if __name__ == "__main__":
    unittest.main()
