#!/usr/bin/env python3
"""Counts the Docker API requests that pass through it.

    docker-api-counter.py LISTEN_SOCKET UPSTREAM_SOCKET COUNT_FILE [LOG_FILE]

Listens on the Unix socket LISTEN_SOCKET, forwards every connection to UPSTREAM_SOCKET (the
engine's), and counts the HTTP request lines clients send (keep-alive connections carry several).
On SIGTERM or SIGINT it writes the counts as JSON to COUNT_FILE: {"requests": N, "by_path":
{"GET /tasks": N, ...}} (paths without their query) and exits. With LOG_FILE, it also appends
"TIME METHOD PATH" for each request as it passes (TIME in Unix seconds), for rates over time.
"""
import json
import os
import re
import signal
import socket
import sys
import threading
import time

REQUEST = re.compile(rb"(?:^|\r\n)(GET|POST|PUT|DELETE|HEAD) (/[^ ?]*)[^ ]* HTTP/1\.[01]\r\n")

listen_path, upstream_path, count_file = sys.argv[1:4]
log = open(sys.argv[4], "a", buffering=1) if len(sys.argv) > 4 else None
counts = {}
lock = threading.Lock()


def pipe(src, dst, count):
    tail = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if count:
                # A request line may be split between two reads: keep the end of the last one.
                seen = tail + data
                now = time.time()
                for m in REQUEST.finditer(seen):
                    if m.end() <= len(tail):
                        continue
                    # Drop the API version prefix (/v1.41/tasks -> /tasks).
                    path = re.sub(rb"^/v[0-9.]+", b"", m.group(2)).decode(errors="replace")
                    key = f"{m.group(1).decode()} {path}"
                    with lock:
                        counts[key] = counts.get(key, 0) + 1
                        if log:
                            log.write(f"{now:.6f} {key}\n")
                tail = seen[-256:]
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(upstream_path)
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(client, upstream, True), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client, False), daemon=True).start()


def finish(*_):
    with lock:
        total = sum(counts.values())
        by_path = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    with open(count_file, "w") as f:
        json.dump({"requests": total, "by_path": by_path}, f)
    os._exit(0)


signal.signal(signal.SIGTERM, finish)
signal.signal(signal.SIGINT, finish)
if os.path.exists(listen_path):
    os.unlink(listen_path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(listen_path)
server.listen(128)
while True:
    conn, _ = server.accept()
    serve(conn)
