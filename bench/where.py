#!/usr/bin/env python3
"""where -- where dunnd's time goes on the two heavy days (issue: P1, P4).

usage: where.py [--build DIR] [--accounts N] [--files K] [--dir TMP]
                [--only ingest|night|pages]

Needs `perf` (Debian: linux-perf) and a build with symbols (the default
-O2 -g).  Two profiles, each sampled with DWARF call graphs and folded
into the categories below by the functions on each sample's stack:

  ingest  the real dunnd (shipped rules, --test-clock) ingesting the
          first K files (default 3) of the reference portfolio for N
          accounts (default 100,000) through `dunnctl ingest`: cost per
          event, from dunnd's own CPU time (/proc/PID/stat) shared out
          by the samples; plus the bytes dunnd wrote (/proc/PID/io,
          WAL and checkpoints) and the database's size, per event;
  night   build/bench/bench_sweep N (its layout: 10 % of the accounts
          change stage at each midnight): the samples under
          engine_run_until's midnight moments, per changing account,
          from bench_sweep's own "night" CPU figure.

  pages   bench_sweep N again under the WAL page shim
          (bench/shim/walpages.c): the pages its midnights wrote to the
          WAL, by the table or index they belong to, per changing
          account (no perf needed).

A sample is put in the first category whose rule matches, in the order
listed; SQLite statements are told apart by the dunnd function that ran
them.  Not a test: it prints tables.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NOW = "2026-11-27T09:00:00+08:00"

SQL = ("sqlite3_step", "sqlite3_exec", "sqlite3_prepare", "store_q", "store_exec_q",
       "store_next", "step_row")
# (category, functions that mark it): statements by the function that ran them.
STMT = [
    ("SQL: event lookup (duplicate check)", ("seen", "known_line")),
    ("SQL: money histories (ledger rows)", ("ledgers_get", "ledgers_flush", "check_ref")),
    ("SQL: validation lookups", ("check_line", "check_invoice", "check_task", "check_account")),
    ("SQL: reversals", ("apply_reversal", "reopen")),
    ("SQL: invoice and outcome rows", ("apply_line",)),
    ("SQL: account rows", ("apply_account",)),
    ("SQL: kpi_days", ("kpi_note", "kpisum_flush")),
    ("SQL: event row", ("one_line",)),
    ("SQL: task rows (emit)", ("emit_task",)),
    ("SQL: task status (cancel, supersede)", ("cancel_one", "task_status", "supersede",
                                              "eval_cancel_tasks")),
    ("SQL: transition rows", ("transitions",)),
    ("SQL: feed rows", ("engine_feed_append", "engine_feed_end")),
    ("SQL: contact lookups", ("pick_contact",)),
    ("SQL: account state rows", ("save_one", "save_touched", "engine_step_end",
                                  "engine_batch_end")),
]
OTHER = [
    ("parse (lines, JSON, fields)", ("event_parse", "lines_next", "lines_feed")),
    ("digest (BLAKE2b)", ("event_digest", "crypto_generichash")),
    ("canonical form", ("event_encode",)),
    ("validate (memory)", ("check_line",)),
    ("windows (calendar)", ("choose_window", "cal_window_choose")),
    ("facts (memory)", ("facts_compute",)),
    ("evaluation (memory)", ("eval_account", "run_moment")),
    ("apply (memory)", ("apply_line", "one_line")),
    ("results (memory)", ("result_add", "ingest_finish")),
    ("socket I/O", ("read_cb", "write_cb")),
]
# jansson at work: building, encoding or decoding JSON
JSON_FNS = ("proto_dumps", "eval_json_ts")


def frames(script):
    """Yields each sample's stack (leaf first) as function names."""
    cur = []
    for line in script:
        line = line.rstrip("\n")
        if not line.strip():
            if cur:
                yield cur
            cur = []
            continue
        if line[0] not in " \t":
            cur = []
            continue
        parts = line.split(None, 1)
        name = parts[1] if len(parts) > 1 else "?"
        name = name.replace(" (inlined)", "").split("+")[0]
        cur.append(name)
    if cur:
        yield cur


def category(st):
    names = set(st)
    if "ckpt_main" in names:
        return "checkpointer thread (WAL -> db)"
    if "fdatasync" in names or "fsync" in names or "__libc_fdatasync" in names:
        return "fsync"
    if "store_commit" in names:
        return "COMMIT (WAL frames written)"
    if names & set(SQL):
        for f in st:  # the innermost dunnd function that ran the statement
            for cat, fns in STMT:
                if f in fns:
                    return cat
        return "SQL: other"
    if any(f.startswith("json_") for f in st) or names & set(JSON_FNS):
        if names & {"engine_feed_append", "emit_task", "eval_account", "transitions"}:
            return "JSON: feed records"
        return "JSON: replies and other"
    for cat, fns in OTHER:
        if names & set(fns):
            return cat
    if "malloc" in names or "_int_malloc" in names or "free" in names:
        return "malloc/free (elsewhere)"
    return "other"


def fold(data, keep=None):
    r = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,ip,sym"],
                       capture_output=True, text=True)
    c = collections.Counter()
    n = 0
    for st in frames(r.stdout.splitlines()):
        if keep is not None and not keep(st):
            continue
        c[category(st)] += 1
        n += 1
    return c, n


def table(title, c, n, total_s, units, unit_name):
    sys.stdout.flush()
    print("\n%s: %d samples, %.2f s of CPU, %d %s" % (title, n, total_s, units, unit_name))
    print("  %-40s %7s %12s" % ("where", "share", "us/" + unit_name.rstrip("s")))
    for cat, k in c.most_common():
        print("  %-40s %6.1f%% %12.2f" % (cat, 100.0 * k / n, total_s * k / n / units * 1e6))


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_written(pid):
    with open("/proc/%d/io" % pid) as f:
        for l in f:
            if l.startswith("write_bytes:"):
                return int(l.split()[1])
    return 0


def ingest_profile(args, tmp):
    pdir = os.path.join(tmp, "portfolio")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_portfolio.py"), "--accounts",
                    str(args.accounts), "--out", pdir, "--per-file", "100000", "--now", NOW],
                   check=True, capture_output=True)
    files = sorted(os.path.join(pdir, f) for f in os.listdir(pdir))[:args.files]
    nev = sum(sum(1 for _ in open(f, "rb")) for f in files)
    d = os.path.join(tmp, "d")
    os.makedirs(d)
    shutil.copytree(os.path.join(ROOT, "rules"), os.path.join(d, "rules"))
    with open(os.path.join(d, "dunnd.conf"), "w") as f:
        f.write('database = "dunnd.db";\nrules = "rules";\nsocket = "dunnd.sock";\n'
                'timezone = "Asia/Shanghai";\nlog_level = "warning";\n')
    dunnd = os.path.join(args.build, "dunnd")
    ctl = [os.path.join(args.build, "dunnctl"), "-s", os.path.join(d, "dunnd.sock")]
    p = subprocess.Popen(["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", "250",
                          "-o", os.path.join(tmp, "ingest.data"), dunnd, "-c", "dunnd.conf",
                          "-f", "--test-clock=" + NOW], cwd=d, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while subprocess.run(ctl + ["status"], capture_output=True).returncode != 0:
        time.sleep(0.1)
    pid = int(subprocess.run(["pgrep", "-P", str(p.pid), "-x", "dunnd"], capture_output=True,
                             text=True).stdout.split()[0])
    c0, w0 = proc_cpu(pid), proc_written(pid)
    for f in files:
        r = subprocess.run(ctl + ["ingest", f], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("ingest %s: %s" % (f, r.stdout[-500:] + r.stderr))
    cpu, written = proc_cpu(pid) - c0, proc_written(pid) - w0
    size = os.path.getsize(os.path.join(d, "dunnd.db"))
    wal = os.path.join(d, "dunnd.db-wal")
    size += os.path.getsize(wal) if os.path.exists(wal) else 0
    os.kill(pid, 15)
    p.wait()
    c, n = fold(os.path.join(tmp, "ingest.data"))
    table("ingest (%d files of the %d-account portfolio, through dunnctl)" % (len(files),
                                                                             args.accounts),
          c, n, cpu, nev, "events")
    print("  bytes written by dunnd (WAL frames, checkpoints): %.0f B/event; database + WAL "
          "on disk: %.0f B/event" % (written / nev, size / nev))


def night_profile(args, tmp):
    data = os.path.join(tmp, "night.data")
    env = dict(os.environ, DUNND_BENCH_DIR=tmp)
    r = subprocess.run(["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", "250",
                        "-o", data, os.path.join(args.build, "bench", "bench_sweep"),
                        str(args.accounts)], cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench_sweep: " + r.stderr[-1000:])
    cpu, moved = 0.0, 0
    for m in re.finditer(r"midnight moment: \d+ accounts due, (\d+) .*?\(CPU ([0-9.]+) s\)",
                         r.stdout):
        moved += int(m.group(1))
        cpu += float(m.group(2))
    c, n = fold(data, keep=lambda st: "run_moment" in st and "ingest_run" not in st)
    table("night (bench_sweep %d accounts, the 2 midnight moments)" % args.accounts, c, n, cpu,
          moved, "changing accounts")


def night_pages(args, tmp):
    """The WAL pages of bench_sweep's two midnights (and 00:05 sweeps),
    by the table or index they belong to, per changing account: the
    shim records each frame's page number, dbstat on the store kept
    afterwards names its b-tree (pages freed and reused meanwhile are
    named by their last owner)."""
    shim = os.path.join(args.build, "bench", "libwalpages.so")
    if not os.path.exists(shim):
        sys.exit("where.py --only pages needs %s: make bench" % shim)
    out, armf = os.path.join(tmp, "pages"), os.path.join(tmp, "arm")
    env = dict(os.environ, DUNND_BENCH_DIR=tmp, DUNND_BENCH_KEEP="1", DUNND_BENCH_P4_ONLY="1",
               DUNND_BENCH_ARM=armf, WALPAGES_ARM=armf, WALPAGES_OUT=out, LD_PRELOAD=shim)
    r = subprocess.run([os.path.join(args.build, "bench", "bench_sweep"), str(args.accounts)],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench_sweep: " + r.stderr[-1000:])
    moved = sum(int(m.group(1)) for m in
                re.finditer(r"midnight moment: \d+ accounts due, (\d+) ", r.stdout))
    db = [os.path.join(tmp, d, "dunnd.db") for d in os.listdir(tmp)
          if d.startswith("dunnd-sweep-")][0]
    import sqlite3
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    owner = dict((p, n) for n, p in con.execute("SELECT name, pageno FROM dbstat"))
    con.close()
    with open(out, "rb") as f:
        data = f.read()
    raw = [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data), 4)]
    pages = [p for p in raw if p < 1 << 31]
    rewrites = len(raw) - len(pages)
    frames = collections.Counter(owner.get(p, "(free now)") for p in pages)
    distinct = collections.Counter(owner.get(p, "(free now)") for p in set(pages))
    n = max(moved, 1)
    print()
    print("night WAL pages (bench_sweep %d accounts, the 2 midnights and 00:05 sweeps): "
          "%d frames of 4 KiB written (%.1f KiB per changing account), %d distinct pages, "
          "%d changing accounts; %d frame headers rewritten (checksums after a frame was "
          "overwritten in place)"
          % (args.accounts, len(pages), 4.0 * len(pages) / n, len(set(pages)), moved, rewrites))
    print("  %-28s %7s %14s %14s" % ("table or index", "share", "frames", "pages"))
    print("  %-28s %7s %14s %14s" % ("", "", "per changing account", ""))
    for name, c in frames.most_common():
        print("  %-28s %6.1f%% %14.2f %14.2f"
              % (name, 100.0 * c / len(pages), c / n, distinct[name] / n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--accounts", type=int, default=100000)
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--dir", default=os.environ.get("DUNND_BENCH_DIR"))
    ap.add_argument("--only", choices=["ingest", "night", "pages"])
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    if args.only != "pages" and shutil.which("perf") is None:
        sys.exit("where.py needs perf: apt-get install linux-perf")
    tmp = tempfile.mkdtemp(prefix="dunnd-where-", dir=args.dir)
    try:
        if args.only in (None, "ingest"):
            ingest_profile(args, tmp)
        if args.only in (None, "night"):
            night_profile(args, tmp)
        if args.only in (None, "pages"):
            night_pages(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
