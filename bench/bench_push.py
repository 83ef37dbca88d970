#!/usr/bin/env python3
"""bench_push -- dunnd-push against targets.md P11.

usage: bench_push.py [--build DIR] [--records N] [--outage S] [--retry-max D]

Starts the real dunnd (--test-clock, the test suite's minimal rules) in a
temporary directory with N feed records already committed (N/2 accounts
with an overdue invoice: a transition and a call task each; default
100,000), a local endpoint (http.server on 127.0.0.1, threaded) that
answers 200 at once without parsing the body, and build/dunnd-push with
batches of 100, unsigned and signed.  Prints:

  P11 rate   records/s from the first request to the last acknowledged
             record (consumer lag 0), each run signed with an HMAC secret.
  P11 outage the endpoint stops listening for S seconds (default 60)
             while dunnd keeps committing records (50 accounts a second,
             100 records); then it listens again: the lag when it
             returns, and the seconds until the lag is 0 again.  The
             wait before a retry is drawn from [d/2, d], d = min(2^(n-1)
             s, retry_max) (default here "5s"; the shipped default "5m"
             lets the n-th wait after a 60 s outage reach 64 s).

Not a test: it prints figures.  The figures depend on the machine; the
endpoint is Python, so it is part of what is measured.
"""
import argparse
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def say(*a):
    print(*a, flush=True)


class Endpoint:
    def __init__(self, port=0):
        self.lock = threading.Lock()
        self.records = 0
        self.requests = 0
        self.first = None
        self.last_seq = 0
        self.port = port
        self.httpd = None
        self.conns = set()

    def start(self):
        ep = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with ep.lock:
                    ep.conns.add(self.connection)

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                first, last = (int(x) for x in key.split("-"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with ep.lock:
                    if ep.first is None:
                        ep.first = time.monotonic()
                    ep.requests += 1
                    ep.records += body.count(b'{"seq":')
                    ep.last_seq = max(ep.last_seq, last)

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = Server(("127.0.0.1", self.port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        """Stops listening and cuts the kept-alive connections: down."""
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def overdue(first, n):
    ev = []
    for i in range(first, first + n):
        a = "C-%07d" % i
        ev.append({"type": "account", "id": "a-%d" % i, "account": a, "name": "Customer " + a,
                   "currency": "CNY", "size": "small"})
        ev.append({"type": "invoice", "id": "i-%d" % i, "account": a, "invoice": "INV-%d" % i,
                   "amount": 100000 + i, "issued": "2026-01-01", "due": "2026-02-20"})
    return ev


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--outage", type=float, default=60.0)
    ap.add_argument("--retry-max", default="5s")
    args = ap.parse_args()
    os.environ["DUNND_BUILD"] = args.build
    import lib

    push_bin = os.path.join(lib.BUILD, "dunnd-push")
    tmp = tempfile.mkdtemp(prefix="dunnd-bench-push-")
    procs = []
    try:
        d = lib.Daemon(os.path.join(tmp, "d"))
        os.makedirs(d.tmp, exist_ok=True)
        d.__init__(os.path.join(tmp, "d"))
        d.start()
        n_acc = args.records // 2
        for start in range(0, n_acc, 20000):
            r = d.ingest(overdue(start, min(20000, n_acc - start)), json_out=False)
            assert r.rc == 0, r
        head = d.status()["feed_head"]
        sample = lib.feed_records(d, head - 100)
        say("feed: %d records, %.0f bytes each on average (transitions and tasks)" % (
            head, sum(len(json.dumps(r, separators=(",", ":"))) for r in sample) / len(sample)))
        with open(os.path.join(tmp, "secret"), "wb") as f:
            f.write(os.urandom(32))

        def push(consumer, ep, retry_max="5m"):
            conf = os.path.join(tmp, consumer + ".conf")
            with open(conf, "w") as f:
                f.write('url = "http://127.0.0.1:%d/h";\nsocket = "%s";\nconsumer = "%s";\n'
                        'secret_file = "secret";\nbatch_max = 100;\nretry_max = "%s";\n'
                        % (ep.port, d.sock, consumer, retry_max))
            log = open(os.path.join(tmp, consumer + ".log"), "ab")
            p = subprocess.Popen([push_bin, "-f", "-c", conf], stdout=log, stderr=log)
            procs.append(p)
            return p

        # --- P11 rate ------------------------------------------------------
        rates = []
        for run in range(3):
            ep = Endpoint()
            ep.start()
            p = push("rate%d" % run, ep)
            t0 = time.monotonic()
            while ep.last_seq < head:
                time.sleep(0.01)
                if time.monotonic() - t0 > 600:
                    raise SystemExit("bench_push: no progress; see %s" % tmp)
            t1 = time.monotonic()
            rate = ep.records / (t1 - ep.first)
            rates.append(rate)
            with open("/proc/%d/stat" % p.pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
            cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
            say("P11 rate run %d: %d records in %d requests, %.2f s: %.0f records/s "
                "(dunnd-push CPU %.2f s)" % (run + 1, ep.records, ep.requests, t1 - ep.first,
                                             rate, cpu))
            p.send_signal(signal.SIGTERM)
            p.wait(10)
            ep.stop()
        rates.sort()
        say("P11 rate: median %.0f records/s (target >= 20,000)" % rates[1])

        # --- P11 outage ----------------------------------------------------
        ep = Endpoint()
        ep.start()
        p = push("outage", ep, args.retry_max)
        while ep.last_seq < head:
            time.sleep(0.05)
        port = ep.port
        ep.stop()
        say("outage: endpoint down for %.0f s, dunnd committing 100 records/s" % args.outage)
        t0 = time.monotonic()
        nxt = n_acc
        while time.monotonic() - t0 < args.outage:
            r = d.ingest(overdue(nxt, 50), json_out=False)
            assert r.rc == 0, r
            nxt += 50
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0) % 1.0))
        head2 = d.status()["feed_head"]
        ep2 = Endpoint(port)
        ep2.start()
        back = time.monotonic()
        lag_back = head2 - max(head, ep.last_seq)
        while ep2.last_seq < head2:
            time.sleep(0.01)
            if time.monotonic() - back > 600:
                raise SystemExit("bench_push: no recovery; see %s" % tmp)
        # The ack follows the 2xx at once; confirm the cursor.
        while True:
            r, recs = d.ctl_json("feed", "--consumer", "outage")
            if not recs:
                break
            time.sleep(0.01)
        rec = time.monotonic() - back
        say("P11 outage: lag %d records when the endpoint returned; lag 0 after %.2f s "
            "(retry_max %s; target <= 10 s)" % (lag_back, rec, args.retry_max))
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        ep2.stop()
        d.stop()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
