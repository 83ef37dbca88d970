#!/usr/bin/env python3
"""bench_kpi -- `dunnctl report kpi --months 12` against targets.md P12.

usage: bench_kpi.py [--build DIR] [--accounts N] [--runs R] [--dir TMP]
                    [--portfolio DIR] [--data DIR]

Generates the reference portfolio (gen_portfolio.py) for N accounts
(default: env DUNND_BENCH_ACCOUNTS, else 100,000; the reference is
1,000,000) -- or reuses the files of an earlier run kept in --portfolio
DIR (env DUNND_BENCH_PORTFOLIO; generated there when empty) --, ingests
it into build/dunnd (shipped rules, --test-clock), moves the clock 30
days (transitions and tasks inside the months) -- or starts dunnd on
the database an earlier run kept in --data DIR (env DUNND_BENCH_DATA;
built and kept there when absent: at 1,000,000 accounts the ingest and
the month of moments take most of the run) --, then times `dunnctl
report kpi --months 12` R + 1 times (env DUNND_BENCH_RUNS, default 3;
the first one, on cold caches, apart) while a second client sends one
single-event ingest every 20 ms, and prints: the median, its
extrapolation to 1,000,000 accounts when run smaller, whether any
event was refused meanwhile, and the longest ingest round trip seen
while reports ran (a report runs in a thread of its own: ingests are
served meanwhile).

Not a test: it prints figures.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_ingest import NOW, PER_FILE, Conn, Daemon, count_lines, die, say, upsert, verdict  # noqa: E402


def portfolio(args, tmp):
    """The portfolio's files: generated, or reused from --portfolio."""
    pdir = args.portfolio or os.path.join(tmp, "portfolio")
    stamp = os.path.join(pdir, "ACCOUNTS")
    if args.portfolio and os.path.exists(stamp):
        with open(stamp) as f:
            if int(f.read()) != args.accounts:
                die("%s holds another portfolio than %d accounts" % (pdir, args.accounts))
        say("P12 portfolio reused from %s" % pdir)
    else:
        r = subprocess.run([sys.executable, os.path.join(HERE, "gen_portfolio.py"), "--accounts",
                            str(args.accounts), "--out", pdir, "--per-file", str(PER_FILE),
                            "--now", NOW], capture_output=True, text=True)
        if r.returncode != 0:
            die("gen_portfolio: " + r.stderr)
        with open(stamp, "w") as f:
            f.write(str(args.accounts))
    return sorted(os.path.join(pdir, f) for f in os.listdir(pdir) if f.endswith(".jsonl"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--accounts", type=int,
                    default=int(os.environ.get("DUNND_BENCH_ACCOUNTS", 100000)))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("DUNND_BENCH_RUNS", 3)))
    ap.add_argument("--dir", default=os.environ.get("DUNND_BENCH_DIR"))
    ap.add_argument("--portfolio", default=os.environ.get("DUNND_BENCH_PORTFOLIO"))
    ap.add_argument("--data", default=os.environ.get("DUNND_BENCH_DATA"))
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="dunnd-bench-kpi-", dir=args.dir)
    dm = None
    try:
        ddir = os.path.join(args.data or tmp, "d")
        if args.data and os.path.exists(os.path.join(ddir, "dunnd.db")):
            # A database an earlier run ingested and kept: started as is.
            dm = Daemon.__new__(Daemon)
            dm.dunnd = os.path.join(args.build, "dunnd")
            dm.dunnctl = os.path.join(args.build, "dunnctl")
            dm.dir, dm.proc = ddir, None
            dm.sock = os.path.join(ddir, "dunnd.sock")
            dm.conf = os.path.join(ddir, "dunnd.conf")
            dm.db = os.path.join(ddir, "dunnd.db")
            with open(os.path.join(args.data, "EVENTS")) as f:
                nev = int(f.read())
            t_start = dm.start()
            st = dm.status()
            if st["accounts"] != args.accounts:
                die("%s holds %d accounts, not %d" % (ddir, st["accounts"], args.accounts))
            say("P12 scale: %d accounts, %d events, feed head %d: the database %s kept by "
                "an earlier run (started in %.0f s)"
                % (st["accounts"], nev, st["feed_head"], ddir, t_start))
        else:
            files = portfolio(args, tmp)
            nev = sum(count_lines(f) for f in files)
            dm = Daemon(args.build, ddir)
            dm.start()
            t0 = time.monotonic()
            for f in files:
                r = dm.ctl("ingest", f)
                if r.returncode != 0:
                    die("ingest %s: %s%s" % (f, r.stdout[-2000:], r.stderr[-1000:]))
            t_ingest = time.monotonic() - t0
            r = dm.ctl("clock", "advance", "30d")
            if r.returncode != 0:
                die("clock advance: " + r.stderr)
            if args.data:
                with open(os.path.join(args.data, "EVENTS"), "w") as f:
                    f.write(str(nev))
            st = dm.status()
            say("P12 scale: %d accounts, %d events (ingested in %.0f s), feed head %d "
                "(DUNND_BENCH_ACCOUNTS; reference 1,000,000)"
                % (st["accounts"], nev, t_ingest, st["feed_head"]))

        stop = threading.Event()
        reporting = threading.Event()
        rtts, refused = [], []

        def background():
            c = Conn(dm.sock)
            n = 0
            while not stop.is_set():
                n += 1
                during = reporting.is_set()
                t0 = time.monotonic()
                fin = c.ingest(upsert("kpi-bg-%d" % n, "C-%07d" % (n % args.accounts), "B"))
                if during and reporting.is_set():
                    rtts.append(time.monotonic() - t0)
                if not fin.get("ok"):
                    refused.append(fin)
                time.sleep(0.02)
            c.close()

        th = threading.Thread(target=background)
        th.start()
        times, cpus = [], []
        try:
            for run in range(args.runs + 1):
                t0 = time.monotonic()
                c0 = dm.cpu_seconds()
                reporting.set()
                r = dm.ctl("--json", "report", "kpi", "--months", "12")
                reporting.clear()
                t = time.monotonic() - t0
                cpu = dm.cpu_seconds() - c0
                if r.returncode != 0:
                    die("report kpi: " + r.stderr)
                rows = [json.loads(l) for l in r.stdout.splitlines()]
                if run == 0:
                    say("  first report (cold caches): %.2f s, dunnd CPU %.2f s" % (t, cpu))
                    continue
                times.append(t)
                cpus.append(cpu)
                say("  run %d: %.2f s, dunnd CPU %.2f s, %d rows" % (run, t, cpu, len(rows)))
        finally:
            stop.set()
            th.join()
        t = statistics.median(times)
        cpu = statistics.median(cpus)
        if st["accounts"] >= 1000000:
            say("P12 report kpi --months 12: %.2f s (median of %d; dunnd CPU %.2f s, the "
                "ingests' included) at %d accounts; target <= 5 s: %s"
                % (t, args.runs, cpu, st["accounts"], verdict(t <= 5)))
        else:
            at1m = t * 1e6 / st["accounts"]
            say("P12 report kpi --months 12: %.2f s (median of %d; dunnd CPU %.2f s) at %d "
                "accounts; %.2f s extrapolated to 1M (linear in accounts: an upper bound, the "
                "daily totals do not grow with them); target <= 5 s: %s"
                % (t, args.runs, cpu, st["accounts"], at1m, verdict(at1m <= 5)))
        say("P12 meanwhile: %d single-event ingests during the reports, %d refused in all "
            "(target: none; %s), longest round trip during a report %.3f s (the report runs "
            "in its own thread)"
            % (len(rtts), len(refused), verdict(not refused), max(rtts) if rtts else 0))
    finally:
        if dm is not None:
            try:
                dm.stop()
            except SystemExit:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
