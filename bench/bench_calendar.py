#!/usr/bin/env python3
"""P10's second half: the P4 night with the default calendar and schedules
against the same night without them, measured in the same run.

Runs build/bench/bench_sweep twice on the same generated portfolio: once
with the shipped rules/, once with a copy that has no calendar (the files
05-calendar.conf and 15-holidays-*.conf left out, `schedule = ...` keys
removed).  Prints both P4 figures and their ratio against the target
(<= 1.10).  Scale: DUNND_BENCH_ACCOUNTS (default 100000).

usage: bench_calendar.py [--build DIR]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
args = ap.parse_args()
exe = os.path.join(ROOT, args.build, "bench", "bench_sweep")

P4 = re.compile(r"^P4 a night through the engine .*?: ([0-9.]+) s;", re.M)


def night(rules):
    env = dict(os.environ, DUNND_BENCH_RULES=rules)
    r = subprocess.run([exe], cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench_calendar: bench_sweep failed:\n" + r.stdout + r.stderr)
    m = P4.search(r.stdout)
    if m is None:
        sys.exit("bench_calendar: no P4 line in:\n" + r.stdout)
    return float(m.group(1)), m.group(0)


tmp = tempfile.mkdtemp(prefix="dunnd-bench-cal-")
try:
    plain = os.path.join(tmp, "rules")
    os.makedirs(plain)
    for name in sorted(os.listdir(os.path.join(ROOT, "rules"))):
        src = os.path.join(ROOT, "rules", name)
        if not name.endswith(".conf") or name == "05-calendar.conf" \
                or name.startswith("15-holidays-"):
            continue
        with open(src) as f:
            text = f.read()
        with open(os.path.join(plain, name), "w") as f:
            f.write(re.sub(r'\bschedule\s*=\s*"[^"]*";', "", text))
    # The order alternates so that a machine getting busier does not
    # favour one side.
    cal1, line = night(os.path.join(ROOT, "rules"))
    none1, _ = night(plain)
    none2, _ = night(plain)
    cal2, _ = night(os.path.join(ROOT, "rules"))
    cal, none = (cal1 + cal2) / 2, (none1 + none2) / 2
    ratio = cal / none
    print("P10 the P4 night with the default calendar: %.3f s (runs %.3f, %.3f); "
          "without a calendar: %.3f s (runs %.3f, %.3f); ratio %.3f, target <= 1.10: %s"
          % (cal, cal1, cal2, none, none1, none2, ratio, "met" if ratio <= 1.10 else "NOT met"))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
