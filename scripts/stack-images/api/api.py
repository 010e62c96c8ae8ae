#!/usr/bin/env python3
"""shipctl-stack-api: a small HTTP API backed by Redis, for the stack tests.

    GET  /health        200 when Redis answers PING, else 503 (always 500 when FAIL_HEALTH=1;
                        with HEALTH_NEEDS_REDIS=0, 200 without asking Redis)
    POST /items/<key>   SET item:<key> <body>, 201
    GET  /items/<key>   the value, or 404
    GET  /count         the number of item:* keys
    GET  /version       the baked version
    GET  /sleep/<s>     answers after <s> seconds: an in-flight request for drain tests

ERROR_RATE (a fraction, e.g. 0.05) answers that share of the requests other than /health with
500, evenly (one in 20 for 0.05, counted per task), and EXTRA_LATENCY_MS delays them: a release
that passes its healthcheck but serves badly, for the canary-analysis tests.

Every answer carries X-App-Version, X-App-Host (the container's hostname) and
X-App-Connection-Requests (how many requests its connection has carried, this one included).
Redis is found by name (REDIS_HOST, default `redis`) on every request, so the API follows Redis
when its tasks are replaced, whatever the endpoint mode. It speaks HTTP/1.1, so a router can
reuse its connections (closed after IDLE_TIMEOUT_S idle, default 65). On SIGTERM it stops
accepting, closes the idle connections, finishes the requests in flight (closing their
connections) and exits: with 0, or with 143 when its last /health failed (Swarm then reports
the task as an unhealthy container instead of a completed one).

The container's healthcheck calls /health, so by default a Redis outage of more than about 3 s
makes Swarm replace the API tasks too (and `api` resolves to nothing meanwhile). Set
HEALTH_NEEDS_REDIS=0 to keep the API tasks up while Redis is replaced.

Only the standard library: a minimal RESP client is enough for PING, SET, GET and SCAN.
"""
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "0.0.0")
HOSTNAME = socket.gethostname()
PORT = int(os.environ.get("PORT", "8080"))
REDIS_HOST = os.environ.get("REDIS_HOST", "redis")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT_S", "2"))
FAIL_HEALTH = os.environ.get("FAIL_HEALTH", "0") == "1"
HEALTH_NEEDS_REDIS = os.environ.get("HEALTH_NEEDS_REDIS", "1") != "0"
ERROR_RATE = float(os.environ.get("ERROR_RATE", "0") or 0)
EXTRA_LATENCY_S = float(os.environ.get("EXTRA_LATENCY_MS", "0") or 0) / 1000.0
# Requests other than /health seen, for ERROR_RATE: a counter, not a random draw, so that a test
# can expect the rate within a few requests.
served = 0
served_lock = threading.Lock()
# The answer of the last /health, for the exit code.
last_health_ok = True
# Connections kept open between requests (a router reusing them), closed at once on SIGTERM so
# that the drain waits only on requests in flight. An idle one is also closed after IDLE_TIMEOUT_S.
IDLE_TIMEOUT_S = float(os.environ.get("IDLE_TIMEOUT_S", "65") or 65)
idle_connections = set()
connections_lock = threading.Lock()
stopping = False


class RedisError(Exception):
    pass


class Redis:
    """One connection for one HTTP request: no pool to go stale when Redis moves."""

    def __init__(self):
        self.sock = socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=REDIS_TIMEOUT)
        self.file = self.sock.makefile("rb")

    def close(self):
        try:
            self.file.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def _reply(self):
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            raise RedisError("connection closed by Redis")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.file.read(size + 2)
            if len(data) != size + 2:
                raise RedisError("connection closed by Redis")
            return data[:-2]
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._reply() for _ in range(size)]
        raise RedisError("unexpected reply from Redis: %r" % line[:40])


def count_items(r):
    # SCAN rather than KEYS: it does not block Redis while the data set grows.
    cursor, total = b"0", 0
    while True:
        cursor, keys = r.call("SCAN", cursor, "MATCH", "item:*", "COUNT", 1000)
        total += len(keys)
        if cursor == b"0":
            return total


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: a router may send many requests on one connection (an HTTP/1.0 client still
    # gets one per connection).
    protocol_version = "HTTP/1.1"
    server_version = "shipctl-stack-api"
    timeout = IDLE_TIMEOUT_S
    # TCP_NODELAY: the head and the body are two writes, and on a kept connection Nagle's
    # algorithm would hold the body until the router's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass  # 20 requests a second would drown the failures that matter

    def handle_one_request(self):
        # Waiting for the next request: idle, until parse_request sees one.
        with connections_lock:
            if stopping:
                self.close_connection = True
                return
            idle_connections.add(self.connection)
        try:
            super().handle_one_request()
        finally:
            with connections_lock:
                idle_connections.discard(self.connection)

    def parse_request(self):
        with connections_lock:
            idle_connections.discard(self.connection)
        self.requests_on_connection = getattr(self, "requests_on_connection", 0) + 1
        return super().parse_request()

    def answer(self, status, body=b"", content_type="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App-Version", VERSION)
        self.send_header("X-App-Host", HOSTNAME)
        # 2 or more: the client (a router) reused its connection.
        self.send_header("X-App-Connection-Requests", str(self.requests_on_connection))
        if stopping:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def redis_failed(self, err):
        print("redis error on %s %s: %s" % (self.command, self.path, err), file=sys.stderr)
        self.answer(503, "redis unavailable: %s\n" % err)

    def item_key(self):
        key = self.path.split("?", 1)[0][len("/items/"):]
        return ("item:" + key) if key and "/" not in key else None

    def misbehaves(self):
        """Answers 500 for ERROR_RATE of the requests (True when it did), after EXTRA_LATENCY_MS."""
        global served
        if EXTRA_LATENCY_S > 0:
            time.sleep(EXTRA_LATENCY_S)
        if ERROR_RATE <= 0:
            return False
        with served_lock:
            served += 1
            n = served
        # The n-th request fails when the running count of failures due steps up.
        if int(n * ERROR_RATE) != int((n - 1) * ERROR_RATE):
            self.answer(500, "injected error (ERROR_RATE=%s)\n" % ERROR_RATE)
            return True
        return False

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path != "/health" and self.misbehaves():
            return
        if path == "/health":
            global last_health_ok
            if FAIL_HEALTH:
                last_health_ok = False
                return self.answer(500, "failing\n")
            if HEALTH_NEEDS_REDIS:
                try:
                    with Redis() as r:
                        r.call("PING")
                except (OSError, RedisError) as err:
                    last_health_ok = False
                    return self.answer(503, "redis unavailable: %s\n" % err)
            last_health_ok = True
            return self.answer(200, "ok\n")
        if path == "/version":
            return self.answer(200, VERSION + "\n")
        if path.startswith("/sleep/"):
            try:
                seconds = float(path[len("/sleep/"):])
            except ValueError:
                return self.answer(400, "usage: /sleep/SECONDS\n")
            time.sleep(seconds)
            return self.answer(200, "slept %s on %s\n" % (seconds, HOSTNAME))
        if path == "/count":
            try:
                with Redis() as r:
                    return self.answer(200, "%d\n" % count_items(r))
            except (OSError, RedisError) as err:
                return self.redis_failed(err)
        if path.startswith("/items/"):
            key = self.item_key()
            if key is None:
                return self.answer(400, "usage: /items/KEY\n")
            try:
                with Redis() as r:
                    value = r.call("GET", key)
            except (OSError, RedisError) as err:
                return self.redis_failed(err)
            if value is None:
                return self.answer(404, "no such item\n")
            return self.answer(200, value, "application/octet-stream")
        self.answer(404, "not found: %s\n" % path)

    do_HEAD = do_GET

    def do_POST(self):
        # The body first, whatever the answer: on a kept connection an unread body would be
        # taken for the next request.
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.misbehaves():
            return
        if not self.path.startswith("/items/"):
            return self.answer(404, "not found: %s\n" % self.path)
        key = self.item_key()
        if key is None:
            return self.answer(400, "usage: /items/KEY\n")
        try:
            with Redis() as r:
                r.call("SET", key, body)
        except (OSError, RedisError) as err:
            return self.redis_failed(err)
        self.answer(201, "stored %s\n" % key)


class Server(ThreadingHTTPServer):
    # Non-daemon request threads that server_close() joins: that is the drain.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128


def close_idle_connections():
    """From now on every answer closes its connection; those waiting for a request close now."""
    global stopping
    with connections_lock:
        stopping = True
        for connection in idle_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client
        idle_connections.clear()


def main():
    server = Server(("0.0.0.0", PORT), Handler)
    stop = threading.Event()
    # PID 1 ignores SIGTERM unless it handles it.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    print("shipctl-stack-api %s on %s, port %d, redis %s:%d"
          % (VERSION, HOSTNAME, PORT, REDIS_HOST, REDIS_PORT))
    # A timed wait, so that the signal handler gets to run promptly.
    while not stop.wait(0.5):
        pass
    print("stopping: no new connections, finishing the requests in flight")
    server.shutdown()      # the accept loop ends
    close_idle_connections()
    server.server_close()  # closes the listening socket, then waits for the request threads
    print("stopped")
    # An app that fails its healthcheck exits like one killed by the signal: Swarm then reports
    # the failed healthcheck as the task's error.
    sys.exit(0 if last_health_ok and not FAIL_HEALTH else 143)


if __name__ == "__main__":
    main()
