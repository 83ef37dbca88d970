#!/usr/bin/env python3
"""make crashtest-selftest: the power-loss and fault drivers must catch
planted durability bugs.

Each bug is a small edit of the source.  For each, the checkout's files
(git ls-files) are copied to build-selftest/BUG/, the edit applied there
(the edit's old text must be found, so a refactoring cannot silently
disarm it), dunnd and the shim built in that copy, and the drivers run
against that build: test_powerloss.py (DUNND_POWERLOSS_CUTS cuts) and
test_faults.py (DUNND_FAULT_RUNS runs).  A bug is caught when a driver
fails.  The shipped source is never touched.

usage: plant.py [BUG ...]      (default: every bug; exit 1 if one is missed)
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build-selftest")

BUGS = {
    # Acknowledged before it is durable: COMMIT returns without syncing.
    "ack-before-durable": (
        "daemon/store.c", "PRAGMA synchronous = FULL;", "PRAGMA synchronous = OFF;"),
    # The cursor is written outside its own transaction: ack replies ok
    # and leaves the write to ride on whatever commits next.
    "cursor-outside-txn": (
        "daemon/server.c",
        "\t        -1 ||\n\t    store_commit(srv->store) == -1) {\n\t\tstore_rollback(srv->store);\n"
        "\t\taudit_log(c, \"ack %s %lld: failed: %s\"",
        "\t        -1) {\n\t\tstore_rollback(srv->store);\n"
        "\t\taudit_log(c, \"ack %s %lld: failed: %s\""),
    # A failed COMMIT reported as done: acknowledged, never committed.
    "ack-failed-commit": (
        "daemon/store.c",
        "\t\ts->in_txn = false;\n\t\treturn -1;\n\t}\n\ts->in_txn = false;",
        "\t\ts->in_txn = false;\n\t\treturn 0;\n\t}\n\ts->in_txn = false;"),
    # A rolled-back step left in memory: memory and disk disagree.
    "no-undo-in-memory": (
        "daemon/engine.c",
        "\t\tstore_rollback(e->store);\n\t\tundo_step(e);\n",
        "\t\tstore_rollback(e->store);\n\t\t(void)undo_step;\n"),
}
DRIVERS = ("test_powerloss.py", "test_faults.py")


def build(bug):
    path, old, new = BUGS[bug]
    src = os.path.join(OUT, bug)
    shutil.rmtree(src, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if os.path.exists(os.path.join(ROOT, f)):
            os.makedirs(os.path.dirname(os.path.join(src, f)) or src, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), os.path.join(src, f))
    with open(os.path.join(src, path)) as f:
        text = f.read()
    if text.count(old) != 1:
        sys.exit("selftest: %s: the text to plant it in is not in %s (once)" % (bug, path))
    with open(os.path.join(src, path), "w") as f:
        f.write(text.replace(old, new))
    subprocess.run(["make", "-s", "-C", src, "B=build", "all", "build/tests/libfaultvfs.so",
                    "build/tests/libenospc.so"], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(src, "build")


def main():
    bugs = sys.argv[1:] or list(BUGS)
    env = dict(os.environ)
    env.setdefault("DUNND_POWERLOSS_CUTS", "20")
    env.setdefault("DUNND_FAULT_RUNS", "16")
    missed = []
    for bug in bugs:
        b = build(bug)
        caught = []
        for drv in DRIVERS:
            r = subprocess.run([sys.executable, os.path.join(ROOT, "tests/integration/run.py"),
                                "--build", b, drv], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                why = [l for l in r.stderr.splitlines() if "Error:" in l or "Error" in l][:1]
                caught.append("%s (%s)" % (drv, why[0].strip()[:150] if why else "failed"))
        print("%-20s %s" % (bug, "caught by " + "; ".join(caught) if caught else "MISSED"),
              flush=True)
        if not caught:
            missed.append(bug)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
