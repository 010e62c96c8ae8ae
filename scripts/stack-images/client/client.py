#!/usr/bin/env python3
"""shipctl-stack-client: east-west traffic for the stack tests.

Every INTERVAL_MS (50) it POSTs a new unique item to API_URL (default http://api:8080, the API's
compose name) at /items/<key>, then GETs it back. Each HTTP request is one call; a call fails on
a connection error, a timeout (TIMEOUT_S, 5 s, for the whole call: on a busy machine a slow
answer is not a lost one), a non-2xx answer, or a value read back that differs from the one
written. There is no retry, no keep-alive, and each call connects to the first address the name
resolves to and no other, so a failure is never hidden.
When the POST fails the GET is skipped (it could only fail too).

    GET  /stats   on STATS_PORT (9090): {"calls", "failures", "versions": {version: answers},
                  "hosts": {X-App-Host: answers}, "written_keys", "iterations",
                  "last_errors": [up to 20 "time method path: reason"], ...}
    POST /reset   zeroes the counts (a test can also take the difference of two /stats)

Each failure is also printed as one line on stdout.
"""
import collections
import http.client
import json
import os
import signal
import socket
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_URL = os.environ.get("API_URL", "http://api:8080")
STATS_PORT = int(os.environ.get("STATS_PORT", "9090"))
INTERVAL = float(os.environ.get("INTERVAL_MS", "50")) / 1000.0
TIMEOUT = float(os.environ.get("TIMEOUT_S", "5"))
VERSION = os.environ.get("APP_VERSION", "0.0.0")
HOSTNAME = socket.gethostname()

_url = urllib.parse.urlsplit(API_URL)
API_HOST = _url.hostname or "api"
API_PORT = _url.port or 80
API_PREFIX = _url.path.rstrip("/")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.started = time.time()
        self.reset()

    def reset(self):
        with self.lock:
            self.calls = 0
            self.failures = 0
            self.iterations = 0
            self.written_keys = 0
            self.versions = collections.Counter()
            self.hosts = collections.Counter()
            self.last_errors = collections.deque(maxlen=20)
            self.last_call_at = None

    def record(self, method, path, version, host, error):
        now = time.time()
        with self.lock:
            self.calls += 1
            self.last_call_at = now
            if version:
                self.versions[version] += 1
            if host:
                self.hosts[host] += 1
            if error:
                self.failures += 1
                stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + ".%03d" % (now % 1 * 1000)
                line = "%s %s %s: %s" % (stamp, method, path, error)
                self.last_errors.append(line)
                print("FAIL " + line, flush=True)

    def snapshot(self):
        with self.lock:
            return {
                "calls": self.calls,
                "failures": self.failures,
                "versions": dict(self.versions),
                "hosts": dict(self.hosts),
                "last_errors": list(self.last_errors),
                "written_keys": self.written_keys,
                "iterations": self.iterations,
                "last_call_at": self.last_call_at,
                "uptime_s": round(time.time() - self.started, 3),
                "api_url": API_URL,
                "client_version": VERSION,
            }


STATS = Stats()


class OneAddressConnection(http.client.HTTPConnection):
    """Connects to the first resolved address only: socket.create_connection would quietly try
    the next address after a refusal, which is a retry that hides a dead endpoint."""

    peer = None

    def connect(self):
        family, kind, proto, _, addr = socket.getaddrinfo(
            self.host, self.port, socket.AF_UNSPEC, socket.SOCK_STREAM)[0]
        self.peer = addr[0]
        sock = socket.socket(family, kind, proto)
        sock.settimeout(self.timeout)
        try:
            sock.connect(addr)
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock


def call(method, path, body=None):
    """One request on a fresh connection -> (status, body, version, host, error or None)."""
    start = time.monotonic()
    conn = OneAddressConnection(API_HOST, API_PORT, timeout=TIMEOUT)
    try:
        headers = {"Connection": "close"}
        conn.request(method, API_PREFIX + path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        version, host = resp.getheader("X-App-Version"), resp.getheader("X-App-Host")
        elapsed = time.monotonic() - start
        if elapsed > TIMEOUT:
            return resp.status, data, version, host, "took %.2f s (timeout %.1f s)" % (elapsed, TIMEOUT)
        if not 200 <= resp.status < 300:
            return resp.status, data, version, host, "HTTP %d from %s (%s): %s" % (
                resp.status, conn.peer, host, data[:80].decode(errors="replace").strip())
        return resp.status, data, version, host, None
    except (OSError, http.client.HTTPException) as err:
        return None, b"", None, None, "%s to %s after %.2f s: %s" % (
            type(err).__name__, conn.peer or API_HOST, time.monotonic() - start, err)
    finally:
        conn.close()


def one_iteration(n, run_id):
    key = "%s-%s-%d" % (HOSTNAME, run_id, n)
    value = ("value-%s" % key).encode()
    status, _, version, host, error = call("POST", "/items/" + key, value)
    STATS.record("POST", "/items/" + key, version, host, error)
    if error:
        return
    with STATS.lock:
        STATS.written_keys += 1
    status, data, version, host, error = call("GET", "/items/" + key)
    if not error and data != value:
        error = "read back %r, wrote %r" % (data[:60], value[:60])
    STATS.record("GET", "/items/" + key, version, host, error)


class StatsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = (json.dumps(obj, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.split("?", 1)[0] == "/stats":
            return self.reply(200, STATS.snapshot())
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path.split("?", 1)[0] == "/reset":
            STATS.reset()
            return self.reply(200, STATS.snapshot())
        self.reply(404, {"error": "not found"})


def main():
    stop = threading.Event()
    # PID 1 ignores SIGTERM unless it handles it.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = ThreadingHTTPServer(("0.0.0.0", STATS_PORT), StatsHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("shipctl-stack-client %s on %s: %s every %d ms, stats on :%d/stats"
          % (VERSION, HOSTNAME, API_URL, INTERVAL * 1000, STATS_PORT), flush=True)
    # Keys unique across restarts of the same container too.
    run_id = uuid.uuid4().hex[:8]
    n = 0
    next_at = time.monotonic()
    while not stop.is_set():
        n += 1
        one_iteration(n, run_id)
        with STATS.lock:
            STATS.iterations += 1
        # A fixed pace, not a fixed pause: a slow call is not followed by a full interval.
        next_at = max(next_at + INTERVAL, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))
    print("stopping: %s" % json.dumps(STATS.snapshot(), sort_keys=True), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
