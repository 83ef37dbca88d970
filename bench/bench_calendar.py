#!/usr/bin/env python3
"""P10's second half: the P4 night with the default calendar and schedules
against the same night without them, measured in the same run.

Runs build/bench/bench_sweep (DUNND_BENCH_P4_ONLY: ingest, nights 1 and 2,
nothing more) on the same generated portfolio, alternately with the
shipped rules/ and with a copy that has no calendar (the files
05-calendar.conf and 15-holidays-*.conf left out, `schedule = ...` keys
removed), PAIRS times each in the order cal, plain, plain, cal, cal, plain,
... so that a machine getting busier or quieter favours neither side.
Prints, for each side, the median of the P4 night (wall and CPU) with its
spread (min-max), the ratio of the medians against the target (<= 1.10),
and the spread of the ratios of the pairs.  The CPU ratio is the steadier
one on a shared machine; the wall ratio is the one the target names.

Scale: DUNND_BENCH_ACCOUNTS (default 100000); pairs: DUNND_BENCH_PAIRS
(default 3).

usage: bench_calendar.py [--build DIR] [--pairs N]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--pairs", type=int,
                default=int(os.environ.get("DUNND_BENCH_PAIRS", "3")))
args = ap.parse_args()
exe = os.path.join(ROOT, args.build, "bench", "bench_sweep")

P4 = re.compile(r"^P4 a night through the engine .*?: ([0-9.]+) s "
                r"\(CPU ([0-9.]+) s\);", re.M)


def night(rules):
    env = dict(os.environ, DUNND_BENCH_RULES=rules, DUNND_BENCH_P4_ONLY="1")
    r = subprocess.run([exe], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.exit("bench_calendar: bench_sweep failed:\n" + r.stdout + r.stderr)
    m = P4.search(r.stdout)
    if m is None:
        sys.exit("bench_calendar: no P4 line in:\n" + r.stdout)
    return float(m.group(1)), float(m.group(2))


def spread(v):
    return "median %.3f s (%s; min-max %.3f-%.3f)" % (
        statistics.median(v), ", ".join("%.3f" % x for x in v), min(v),
        max(v))


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
    cal = os.path.join(ROOT, "rules")
    cw, cc, pw, pc = [], [], [], []
    for i in range(args.pairs):
        order = (cal, plain) if i % 2 == 0 else (plain, cal)
        for rules in order:
            w, c = night(rules)
            if rules == cal:
                cw.append(w)
                cc.append(c)
            else:
                pw.append(w)
                pc.append(c)
    rw = statistics.median(cw) / statistics.median(pw)
    rc = statistics.median(cc) / statistics.median(pc)
    pair_w = [a / b for a, b in zip(cw, pw)]
    pair_c = [a / b for a, b in zip(cc, pc)]
    print("P10 the P4 night, %d alternating pairs of runs" % args.pairs)
    print("  with the default calendar:  wall %s" % spread(cw))
    print("                              CPU  %s" % spread(cc))
    print("  without a calendar:         wall %s" % spread(pw))
    print("                              CPU  %s" % spread(pc))
    print("P10 ratio of the medians: wall %.3f (pairs %.3f-%.3f), CPU %.3f "
          "(pairs %.3f-%.3f); target <= 1.10: %s"
          % (rw, min(pair_w), max(pair_w), rc, min(pair_c), max(pair_c),
             "met" if rw <= 1.10 else "NOT met"))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
