#!/usr/bin/env python3
"""soak -- targets.md R9: hours of steady load, memory and fds flat.

usage: soak.py [--build DIR]     (make soak; SOAK_SECONDS, SOAK_ACCOUNTS,
                                  SOAK_RATE, SOAK_INTERVAL in the environment)

Loads a portfolio of SOAK_ACCOUNTS (default 100,000) accounts made by
gen_portfolio.py into a fresh dunnd (test clock), then for SOAK_SECONDS
(default 1800) sends SOAK_RATE (default 5,000) events a second touching
existing accounts (risk updates, in batches every 100 ms on one
connection), while a `dunnctl feed --follow` follower reads the feed, a
probe measures the round trip of a one-event ingest every 100 ms, and
every interval the clock moves a day (a sweep: the follower's records),
a reload (SIGHUP) and five `explain`s run.  Every
SOAK_INTERVAL seconds (default 60; a sixth of the run when shorter) it
prints dunnd's RSS, open fds, WAL size, the events sent and the probe's
p99 round trip.

Passes (exit 0) when the RSS grows <= 5 % from the first sample after
warm-up (a fifth of the run) to the last and the fd count stays flat;
exits 1 otherwise, or when a request fails or the ingest falls behind.
"""
import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_ingest as bi  # noqa: E402  (Daemon, Conn, upsert, pct)


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    secs = int(os.environ.get("SOAK_SECONDS", "1800"))
    naccounts = int(os.environ.get("SOAK_ACCOUNTS", "100000"))
    rate = int(os.environ.get("SOAK_RATE", "5000"))
    interval = int(os.environ.get("SOAK_INTERVAL", str(min(60, max(5, secs // 6)))))
    warm = secs // 5
    build = os.path.join(bi.ROOT, args.build)
    tmp = tempfile.mkdtemp(prefix="dunnd-soak-", dir=os.environ.get("DUNND_BENCH_DIR"))
    dm = bi.Daemon(build, os.path.join(tmp, "d"))
    follower = None
    try:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_portfolio.py"), "--accounts",
                        str(naccounts), "--out", os.path.join(tmp, "p"), "--now", bi.NOW],
                       check=True, stderr=subprocess.DEVNULL)
        dm.start()
        for f in sorted(glob.glob(os.path.join(tmp, "p", "*.jsonl"))):
            r = dm.ctl("ingest", f)
            if r.returncode != 0:
                bi.die("loading %s: %s" % (f, r.stderr))
        print("soak: %d accounts loaded; %d s at %d events/s, a sample every %d s, "
              "warm-up %d s" % (naccounts, secs, rate, interval, warm), flush=True)
        follower = subprocess.Popen([dm.dunnctl, "-s", dm.sock, "--json", "feed", "--follow",
                                     "--from", str(dm.status()["feed_head"])],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        nfeed = [0]
        threading.Thread(target=lambda: [nfeed.__setitem__(0, nfeed[0] + 1)
                                         for _ in follower.stdout], daemon=True).start()
        stop, errors, sent, rts = threading.Event(), [], [0], []
        lock = threading.Lock()

        def load():
            c, per, k = bi.Conn(dm.sock), max(1, rate // 10), 0
            t = time.monotonic()
            while not stop.is_set():
                body = b"".join(bi.upsert("S-%d" % (k + i), "C-%07d" % ((k + i) * 7919 % naccounts),
                                          "ABCDE"[(k + i) % 5]) for i in range(per))
                rec = c.ingest(body)
                if not rec.get("ok"):
                    errors.append(rec)
                    return
                k += per
                sent[0] = k
                t += 0.1
                time.sleep(max(0.0, t - time.monotonic()))
            c.close()

        def probe():
            c, i = bi.Conn(dm.sock), 0
            while not stop.is_set():
                t0 = time.perf_counter()
                rec = c.ingest(bi.upsert("R-%d" % i, "C-%07d" % (i * 104729 % naccounts), "ABCDE"[i % 5]))
                with lock:
                    rts.append(time.perf_counter() - t0)
                if not rec.get("ok"):
                    errors.append(rec)
                    return
                i += 1
                time.sleep(0.1)
            c.close()

        threads = [threading.Thread(target=load), threading.Thread(target=probe)]
        for th in threads:
            th.start()
        t0 = time.monotonic()
        samples = []
        print("%7s %10s %5s %10s %10s %9s %8s" % ("t(s)", "RSS(MiB)", "fds", "WAL(MiB)",
                                                  "events", "feed", "p99(ms)"), flush=True)
        n = 0
        while time.monotonic() - t0 < secs and not errors:
            time.sleep(max(0.0, t0 + (n + 1) * interval - time.monotonic()))
            n += 1
            fdn = min(len(os.listdir("/proc/%d/fd" % dm.proc.pid)) for _ in range(3)
                      if time.sleep(0.05) is None)
            dm.proc.send_signal(signal.SIGHUP)
            r = dm.ctl("clock", "advance", "1d")
            if r.returncode != 0:
                errors.append("clock advance: " + r.stderr)
            for i in range(5):
                r = dm.ctl("explain", "C-%07d" % (i * 31337 % naccounts))
                if r.returncode != 0:
                    errors.append("explain: " + r.stderr)
            with lock:
                v, rts[:] = list(rts), []
            s = (time.monotonic() - t0, rss(dm.proc.pid), fdn,
                 os.path.getsize(dm.db + "-wal") if os.path.exists(dm.db + "-wal") else 0,
                 sent[0], nfeed[0], bi.pct(v, 99) * 1000 if v else 0.0)
            samples.append(s)
            print("%7.0f %10.1f %5d %10.1f %10d %9d %8.2f" % (s[0], s[1] / 2**20, s[2], s[3] / 2**20,
                                                              s[4], s[5], s[6]), flush=True)
        stop.set()
        for th in threads:
            th.join()
        if errors:
            bi.die("soak: %s" % (errors[0],))
        after = [s for s in samples if s[0] >= warm] or samples[-1:]
        growth = (after[-1][1] - after[0][1]) / after[0][1] * 100
        fds = {s[2] for s in after}
        achieved = sent[0] / (samples[-1][0] if samples else 1)
        print("soak: %.0f events/s sent (target %d); RSS %+.1f %% after warm-up (<= 5 %%): %s; "
              "fds %s: %s" % (achieved, rate, growth, bi.verdict(growth <= 5.0),
                              sorted(fds), bi.verdict(len(fds) == 1)), flush=True)
        ok = growth <= 5.0 and len(fds) == 1 and achieved >= 0.9 * rate
        if achieved < 0.9 * rate:
            print("soak: the ingest fell behind (%.0f of %d events/s)" % (achieved, rate))
        sys.exit(0 if ok else 1)
    finally:
        if follower is not None:
            follower.kill()
        dm.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
