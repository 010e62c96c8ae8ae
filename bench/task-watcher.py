#!/usr/bin/env python3
"""Records when the Swarm manager first reports each service of a project with a running task.

    task-watcher.py ENGINE_SOCKET PROJECT SERVICES OUT_FILE [INTERVAL]

Asks the engine on ENGINE_SOCKET (directly, not through a counting proxy) for the services
labelled com.docker.stack.namespace=PROJECT until it has found SERVICES of them, then for their
tasks every INTERVAL seconds (default 0.1). For every service it writes the first time (Unix
seconds) a task of it was `running` in the manager's answer: {"name": time, ...} to OUT_FILE, when
all of them were seen or on SIGTERM/SIGINT. That is when the manager knew; the task's own status
timestamp says when the node changed it. Their difference is Swarm's own lag, which no client can
beat; what comes after it is the client's.
"""
import http.client
import json
import signal
import socket
import sys
import time
import urllib.parse

engine, project, wanted, out_file = sys.argv[1:5]
wanted = int(wanted)
interval = float(sys.argv[5]) if len(sys.argv) > 5 else 0.1
seen = {}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def get(connection, path, filters):
    query = urllib.parse.urlencode({"filters": json.dumps(filters)})
    connection.request("GET", f"{path}?{query}")
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {body[:200]!r}")
    return json.loads(body)


def finish(*_):
    with open(out_file, "w") as f:
        json.dump(seen, f)
    sys.exit(0)


signal.signal(signal.SIGTERM, finish)
signal.signal(signal.SIGINT, finish)

connection = UnixConnection(engine)
names = {}
while len(seen) < wanted:
    started = time.time()
    try:
        if len(names) < wanted:
            for service in get(connection, "/services", {"label": [f"com.docker.stack.namespace={project}"]}):
                names[service["ID"]] = service["Spec"]["Name"]
        if names:
            tasks = get(connection, "/tasks", {"service": list(names), "desired-state": ["running"]})
            now = time.time()
            for task in tasks:
                name = names.get(task.get("ServiceID"))
                if name and task.get("Status", {}).get("State") == "running":
                    seen.setdefault(name, now)
    except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
        print(f"task-watcher: {e}", file=sys.stderr)
        connection = UnixConnection(engine)
    time.sleep(max(0.0, interval - (time.time() - started)))
finish()
