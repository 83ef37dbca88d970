#!/usr/bin/env python3
"""A CRM's webhook for dunnd-push, in the Python standard library.

usage: crm_receiver.py [--port 8088] [--secret-file FILE] [--state FILE]

Listens on 127.0.0.1:PORT for dunnd-push's POSTs and, for each request:

1. verifies Dunnd-Signature (HMAC-SHA256 of "UNIX.body" under the shared
   secret; the time within 5 minutes) -- 401 when it does not verify;
2. drops the records it has already taken (by seq: dunnd-push delivers
   at least once, and a batch after a restart may overlap an earlier
   one), remembering the last seq taken per Dunnd-Feed-Id in --state;
3. "creates" each new task and closes each cancelled one (here: one line
   on stdout), then answers 200 -- only after the records are safe, since
   the 200 is what lets dunnd-push move the cursor.

A 4xx other than 408/429 tells dunnd-push the batch is bad (it may go to
the dead-letter file); a 5xx or no answer makes it try again later.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8088)
    ap.add_argument("--secret-file")
    ap.add_argument("--state", default="crm.state.json")
    args = ap.parse_args()
    secret = None
    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            secret = f.read()
        if secret.endswith(b"\n"):
            secret = secret[:-1]
    try:
        with open(args.state) as f:
            taken = json.load(f)  # feed_id -> the last seq taken
    except FileNotFoundError:
        taken = {}

    class Hook(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, code, text):
            body = json.dumps({"ok": code == 200, "message": text}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if secret is not None:
                try:
                    t, v1 = self.headers["Dunnd-Signature"].split(",")
                    mac = hmac.new(secret, t[2:].encode() + b"." + body,
                                   hashlib.sha256).hexdigest()
                    good = hmac.compare_digest(mac, v1[3:]) and \
                        abs(time.time() - int(t[2:])) < 300
                except (AttributeError, KeyError, ValueError):
                    good = False
                if not good:
                    return self.answer(401, "bad signature")
            feed = self.headers.get("Dunnd-Feed-Id", "-")
            last = taken.get(feed, 0)
            for rec in json.loads(body):
                if rec["seq"] <= last:
                    continue  # a repeat: taken before
                if rec["kind"] == "task":
                    who = rec.get("contact") or {}
                    print("new %s %s for %s (priority %d, %s%s)" % (
                        rec["type"], rec["task"], rec["account"], rec["priority"],
                        rec["not_before"][:16].replace("T", " "),
                        ", ask for " + rec["ask_for"] if "ask_for" in rec else
                        ", call " + who.get("name", "") if who else ""), flush=True)
                elif rec["kind"] == "cancel":
                    print("closed %s: %s" % (rec["task"], rec["reason"]), flush=True)
                last = rec["seq"]
            taken[feed] = last
            tmp = args.state + ".tmp"
            with open(tmp, "w") as f:
                json.dump(taken, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, args.state)
            self.answer(200, "taken up to %d" % last)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Hook)
    print("crm: listening on http://127.0.0.1:%d/hooks/dunnd" % args.port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
