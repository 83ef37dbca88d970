#!/usr/bin/env python3
"""load -- targets.md R11: many concurrent clients, none starved.

usage: load.py [--build DIR]     (make load; LOAD_SECONDS, LOAD_CLIENTS,
                                  LOAD_ACCOUNTS, LOAD_BOUND in the environment)

Loads LOAD_ACCOUNTS (default 10,000) accounts made by gen_portfolio.py
into a fresh dunnd, then runs LOAD_CLIENTS (default 256) clients for
LOAD_SECONDS (default 600), each on its own connection: one in eight
follows the feed (`feed` with follow, from the head at its start) for the
whole run; the others loop over ingest (a batch of 20 new events of
their own), `explain`, `accounts` (every account), `tasks` (every task)
and a `feed` read that polls like a consumer (what is new since its last
read, from the head at its start), a request at a time.  The clock moves
a day every 30 s so that the followers and the polls get records.

The bound (LOAD_BOUND, default 10 s): every request's first reply line
arrives within the bound of its sending, and while a reply is due its
client never goes longer than the bound without a line.  So a reply of
one line (ingest's, explain's, status's) comes whole within the bound,
and a long one (accounts, tasks, a feed read) starts within it and keeps
coming: dunnd writes each connection at most 64 KiB a loop pass, then
serves every other ready connection (daemon/socket.c, invariant 5).  How
long a whole long reply takes grows with its size and with the clients
sharing dunnd; it is printed, not bounded.

Passes (exit 0) when no request fails, every client stays within the
bound, each follower saw a gapless run of seqs up to the final head,
each feed poll is gapless, and every acknowledged event is there
afterwards (each client's batches, sent again as one batch, are all
`duplicate`).  Prints requests per kind, whole reply times per kind,
first-line times, each client's worst wait, and the events sent again.
"""
import argparse
import collections
import glob
import json
import multiprocessing
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_ingest as bi  # noqa: E402


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(120)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def request(self, req, body=b""):
        """Sends req (+ body); returns (records, final, first, silence):
        first = seconds until the first line of the reply arrived,
        silence = the longest time without a line while it was due
        (first included)."""
        t0 = time.monotonic()
        self.s.sendall(json.dumps(req).encode() + b"\n" + body)
        recs = []
        first, last, silence = None, t0, 0.0
        while True:
            line = self.f.readline()
            now = time.monotonic()
            if first is None:
                first = now - t0
            silence, last = max(silence, now - last), now
            if not line:
                raise RuntimeError("dunnd closed the connection")
            if line.startswith(b'{"ok"'):     # the final record
                return recs, json.loads(line), first, silence
            recs.append(line)    # records are counted, not parsed (the GIL)

    def close(self):
        self.f.close()
        self.s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    secs = int(os.environ.get("LOAD_SECONDS", "600"))
    nclients = int(os.environ.get("LOAD_CLIENTS", "256"))
    naccounts = int(os.environ.get("LOAD_ACCOUNTS", "10000"))
    bound = float(os.environ.get("LOAD_BOUND", "10"))
    tmp = tempfile.mkdtemp(prefix="dunnd-load-", dir=os.environ.get("DUNND_BENCH_DIR"))
    dm = bi.Daemon(os.path.join(bi.ROOT, args.build), os.path.join(tmp, "d"))
    try:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_portfolio.py"), "--accounts",
                        str(naccounts), "--out", os.path.join(tmp, "p"), "--now", bi.NOW],
                       check=True, stderr=subprocess.DEVNULL)
        with open(dm.conf, "a") as f:   # the clients, and dunnctl's status and clock
            f.write("max_clients = %d;\n" % (nclients + 16))
        dm.start()
        for f in sorted(glob.glob(os.path.join(tmp, "p", "*.jsonl"))):
            r = dm.ctl("ingest", f)
            if r.returncode != 0:
                bi.die("loading %s: %s" % (f, r.stderr))
        print("load: %d accounts; %d clients for %d s; bound %.0f s"
              % (naccounts, nclients, secs, bound), flush=True)
        procs = int(os.environ.get("LOAD_PROCS", "8"))
        t_end = time.monotonic() + secs
        queue = multiprocessing.Queue()

        def child(p):
            """Clients k = p, p + procs, ... as threads of one process (the
            clients are spread over processes: one Python process cannot
            schedule 256 threads fairly itself)."""
            stop = threading.Event()
            errors, lock = [], threading.Lock()
            times = collections.defaultdict(list)
            firsts, slow = [], []
            worst, follows = {}, {}
            resent, lost = [0], [0]

            def worker(k):
                c = Client(dm.sock)
                mx, gap, i = 0.0, 0.0, 0
                mine = []
                try:
                    if k % 8 == 0:
                        # The head over its own connection: a dunnctl here
                        # would be one client more than max_clients allows.
                        recs, _, _, _ = c.request({"v": 1, "cmd": "status"})
                        head = json.loads(recs[0])["feed_head"]
                        seen = follows.setdefault(k, [head])
                        c.s.sendall(json.dumps({"v": 1, "cmd": "feed", "from": head,
                                                "follow": True}).encode() + b"\n")
                        buf = b""
                        while not stop.is_set():
                            if not select.select([c.s], [], [], 1.0)[0]:
                                continue
                            data = c.s.recv(65536)
                            if not data:
                                raise RuntimeError("follower: connection closed")
                            buf += data
                            *done, buf = buf.split(b"\n")
                            for line in done:
                                rec = json.loads(line)
                                if "seq" in rec:
                                    seen.append(rec["seq"])
                        return
                    kinds = ["ingest", "explain", "accounts", "tasks", "feed"]
                    # The feed read polls like a consumer: what is new since
                    # its last read, from the head at its start.
                    recs, fin, _, _ = c.request({"v": 1, "cmd": "status"})
                    cursor = json.loads(recs[0])["feed_head"]
                    while time.monotonic() < t_end:
                        kind = kinds[(k + i) % len(kinds)]
                        body = b""
                        if kind == "ingest":
                            body = b"".join(bi.upsert("L%d-%d-%d" % (k, i, j), "C-%07d" % ((k * 7919 + i * 31 + j) % naccounts),
                                                      "ABCDE"[j % 5]) for j in range(20))
                            req = {"v": 1, "cmd": "ingest", "bytes": len(body), "results": "bad"}
                        elif kind == "explain":
                            req = {"v": 1, "cmd": "explain", "account": "C-%07d" % ((k * 104729 + i) % naccounts)}
                        elif kind == "feed":
                            req = {"v": 1, "cmd": "feed", "from": cursor}
                        else:
                            req = {"v": 1, "cmd": kind}
                        t0 = time.monotonic()
                        recs, fin, first, silence = c.request(req, body)
                        t1 = time.monotonic()
                        if not fin.get("ok"):
                            raise RuntimeError("%s: %s" % (kind, fin))
                        if kind == "ingest":
                            mine.append(body)
                        if kind == "feed" and recs:
                            seq = json.loads(recs[-1])["seq"]
                            if seq - cursor != len(recs):
                                raise RuntimeError("feed from %d: %d records up to %d"
                                                   % (cursor, len(recs), seq))
                            cursor = seq
                        mx, gap = max(mx, first), max(gap, silence)
                        with lock:
                            times[kind].append(t1 - t0)
                            firsts.append(first)
                            if silence > bound:
                                slow.append("client %d %s: %.1f s without a line (first %.1f s,"
                                            " reply %.1f s, %d records)"
                                            % (k, kind, silence, first, t1 - t0, len(recs)))
                        i += 1
                    worst[k] = (mx, gap)
                    # Nothing lost: every batch this client had acknowledged
                    # is all there (each line a duplicate now), sent again
                    # as one batch.
                    body = b"".join(mine)
                    if body:
                        recs, fin, _, _ = c.request({"v": 1, "cmd": "ingest", "bytes": len(body),
                                                     "results": "all"}, body)
                        st = [json.loads(r).get("status") for r in recs]
                        with lock:
                            resent[0] += len(st)
                            lost[0] += sum(1 for x in st if x != "duplicate")
                except Exception as e:  # noqa: BLE001  (reported, the run fails)
                    with lock:
                        errors.append("client %d: %r" % (k, e))
                finally:
                    c.close()

            ths = [threading.Thread(target=worker, args=(k,)) for k in range(p, nclients, procs)]
            for th in ths:
                th.start()
            while time.monotonic() < t_end + 3:
                time.sleep(0.2)
            stop.set()
            for th in ths:
                th.join()
            queue.put((dict(times), worst, follows, errors, resent[0], firsts, slow, lost[0]))

        children = [multiprocessing.Process(target=child, args=(p,)) for p in range(procs)]
        for ch in children:
            ch.start()
        errors = []
        t0 = time.monotonic()
        while time.monotonic() < t_end - 1:
            time.sleep(min(30, max(0.1, t_end - 1 - time.monotonic())))
            if time.monotonic() < t_end - 1:
                r = dm.ctl("clock", "advance", "1d")
                if r.returncode != 0:
                    errors.append("clock advance: " + r.stderr)
        time.sleep(max(0.0, t_end - time.monotonic()))
        head = dm.status()["feed_head"]
        times, worst, follows = collections.defaultdict(list), {}, {}
        resent, lost, firsts, slow = 0, 0, [], []
        for _ in children:
            t, w, f, e, n, fi, sl, lo = queue.get()
            for k, v in t.items():
                times[k] += v
            worst.update(w)
            follows.update(f)
            errors += e
            resent += n
            firsts += fi
            slow += sl
            lost += lo
        for ch in children:
            ch.join()
        for k, seen in follows.items():
            if seen != list(range(seen[0], seen[-1] + 1)) or seen[-1] < head:
                errors.append("follower %d: %d records, last %d of head %d, gapless %s"
                              % (k, len(seen) - 1, seen[-1], head,
                                 seen == list(range(seen[0], seen[-1] + 1))))
        n = sum(len(v) for v in times.values())
        print("load: %d requests (%.0f/s): %s" % (n, n / secs, ", ".join(
            "%s %d" % (k, len(v)) for k, v in sorted(times.items()))))
        for k, v in sorted(times.items()):
            print("load: %-8s whole reply p50 %.2f s, p99 %.2f s, max %.2f s"
                  % (k, bi.pct(v, 50), bi.pct(v, 99), max(v)))
        if firsts:
            waits = [mx for k, (mx, _) in worst.items()]
            gaps = [g for k, (_, g) in worst.items()]
            print("load: first line of a reply p50 %.3f s, p99 %.3f s, max %.3f s"
                  % (bi.pct(firsts, 50), bi.pct(firsts, 99), max(firsts)))
            print("load: per client, the longest wait for a first line: median %.2f s, worst %.2f s;"
                  " the longest time without a line while one was due: median %.2f s, worst %.2f s"
                  " (bound %.0f s)" % (bi.pct(waits, 50), max(waits), bi.pct(gaps, 50), max(gaps), bound))
        print("load: %d acknowledged events sent again: %d duplicate, %d lost; followers %d,"
              " feed head %d" % (resent, resent - lost, lost, len(follows), head))
        if lost:
            errors.append("%d acknowledged events lost" % lost)
        if len(follows) != len(range(0, nclients, 8)):
            errors.append("%d of %d followers did not start"
                          % (len(range(0, nclients, 8)) - len(follows), len(range(0, nclients, 8))))
        missing = [k for k in range(nclients) if k % 8 and k not in worst]
        if missing:
            errors.append("%d clients did not finish" % len(missing))
        starved = [k for k, (mx, g) in worst.items() if mx > bound or g > bound]
        if starved:
            errors.append("%d clients waited longer than %.0f s" % (len(starved), bound))
            for line in slow[:10]:
                print("load: " + line)
        for e in errors[:10]:
            print("load: " + e)
        print("load: %s" % ("ok" if not errors else "FAILED"))
        sys.exit(1 if errors else 0)
    finally:
        dm.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
