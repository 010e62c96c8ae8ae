#!/usr/bin/env python3
"""The kernel's TCP counters and the router's reloads during the zero-downtime benchmark.

    netcounters.py sample OUT.jsonl STOP_FILE SERVICE_PREFIX NGINX_PID_FILE [INTERVAL]
    netcounters.py windows SAMPLES.jsonl MARKS.tsv NGINX_LOG OUT.json OUT.md

`sample` writes one JSON line every INTERVAL seconds (default 0.5) until STOP_FILE exists:
the counters of the host's network namespace (where the load generator and nginx run) and of
each container of a Swarm service whose name starts with SERVICE_PREFIX (each task has its own
namespace, where the app's listen queue is), plus nginx's worker processes (new workers = a
reload). Containers are found through /proc (their cgroup names the container); the docker
CLI is asked once per new container for its service.

`windows` gives, per scenario of MARKS.tsv (the benchmark's marks), what each counter rose by
in the host and in the app's tasks (summed over the tasks seen), and nginx's reloads (from its
notice log, "reconfiguring", and from the worker changes), as JSON and as a Markdown table.
"""
import json
import os
import re
import subprocess
import sys
import time

# nstat's names: TcpExt* from /proc/net/netstat, Tcp* from /proc/net/snmp.
COUNTERS = [
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtTCPSynRetrans",
    "TcpRetransSegs",
    "TcpExtTCPTimeouts",
    "TcpAttemptFails",
    "TcpEstabResets",
    "TcpPassiveOpens",
    "TcpActiveOpens",
]
CONTAINER = re.compile(r"/docker[/-]([0-9a-f]{64})")


def read_counters(proc):
    """The COUNTERS of the network namespace of /proc/PID (or /proc/self), None if gone."""
    found = {}
    try:
        for name in ("netstat", "snmp"):
            with open(f"/proc/{proc}/net/{name}") as f:
                lines = f.read().splitlines()
            for head, values in zip(lines[::2], lines[1::2]):
                prefix, names = head.split(":", 1)
                _, numbers = values.split(":", 1)
                for n, v in zip(names.split(), numbers.split()):
                    key = prefix + n
                    if key in COUNTERS:
                        found[key] = int(v)
    except (OSError, ValueError):
        return None
    return found


def containers():
    """{container id: a pid in it} for every running container, from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                m = CONTAINER.search(f.read())
        except OSError:
            continue
        if m and m.group(1) not in out:
            out[m.group(1)] = entry
    return out


def service_of(cid, cache):
    if cid not in cache:
        try:
            cache[cid] = subprocess.run(
                ["docker", "inspect", "--format",
                 '{{index .Config.Labels "com.docker.swarm.service.name"}}', cid],
                capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            cache[cid] = ""
    return cache[cid]


def nginx_workers(pid_file):
    try:
        with open(pid_file) as f:
            master = f.read().strip()
        with open(f"/proc/{master}/task/{master}/children") as f:
            return sorted(int(p) for p in f.read().split())
    except (OSError, ValueError):
        return []


def sample(out_path, stop_file, prefix, pid_file, interval=0.5):
    services = {}
    with open(out_path, "w") as out:
        while not os.path.exists(stop_file):
            started = time.time()
            apps = {}
            for cid, pid in containers().items():
                if service_of(cid, services).startswith(prefix):
                    c = read_counters(pid)
                    if c is not None:
                        apps[cid[:12]] = c
            line = {
                "t": int(started * 1000),
                "host": read_counters("self"),
                "app": apps,
                "nginx_workers": nginx_workers(pid_file),
            }
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            out.flush()
            time.sleep(max(0.05, interval - (time.time() - started)))


def delta(before, after):
    return {k: after.get(k, 0) - (before or {}).get(k, 0) for k in COUNTERS}


def nginx_reloads(log_path):
    """Epoch ms of each reload in nginx's log (its times are local, to the second): the line
    "reconfiguring" alone (the one before it says which signal asked for it)."""
    times = []
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                if line.rstrip().endswith(": reconfiguring"):
                    t = time.mktime(time.strptime(line[:19], "%Y/%m/%d %H:%M:%S"))
                    times.append(int(t * 1000))
    except OSError:
        pass
    return times


def windows(samples_path, marks_path, log_path, json_path, md_path):
    with open(samples_path) as f:
        samples = [json.loads(l) for l in f if l.strip()]
    if not samples:
        sys.exit("netcounters.py: no samples in " + samples_path)
    reloads = nginx_reloads(log_path)
    rows = []
    with open(marks_path) as f:
        marks = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    for m in marks:
        label, start, deploy_start, end = m[0], int(m[3]), int(m[4]), int(m[6])
        # The last sample at or before the start, the first at or after the end.
        first = max((s for s in samples if s["t"] <= start), key=lambda s: s["t"], default=samples[0])
        last = min((s for s in samples if s["t"] >= end), key=lambda s: s["t"], default=samples[-1])
        inside = [s for s in samples if first["t"] <= s["t"] <= last["t"]]
        app = {k: 0 for k in COUNTERS}
        tasks = set()
        # Per task: from its counters at the start (0 for a task started later, its namespace is
        # new) to the last sample it was seen in (a task that stopped is counted up to then).
        for cid in {c for s in inside for c in s["app"]}:
            seen = [s["app"][cid] for s in inside if cid in s["app"]]
            for k, v in delta(first["app"].get(cid), seen[-1]).items():
                app[k] += v
            tasks.add(cid)
        workers = set()
        for s in inside[1:]:
            workers.update(s["nginx_workers"])
        new_workers = workers - set(first["nginx_workers"])
        # nginx's log is to the second: a reload in the window's first or last second counts.
        in_log = [t for t in reloads if start - 999 <= t < end]
        rows.append({
            "scenario": label,
            "window_s": (end - start) / 1000,
            "samples": len(inside),
            "host": delta(first["host"], last["host"]),
            "app": app,
            "app_tasks_seen": len(tasks),
            "nginx_reloads": len(in_log),
            "nginx_reload_at_s": [round((t - deploy_start) / 1000) for t in in_log],
            "nginx_new_workers": len(new_workers),
        })
    with open(json_path, "w") as f:
        json.dump(rows, f, indent=1)
    short = [("ListenOverflows", "TcpExtListenOverflows"), ("ListenDrops", "TcpExtListenDrops"),
             ("TCPSynRetrans", "TcpExtTCPSynRetrans"), ("RetransSegs", "TcpRetransSegs"),
             ("TCPTimeouts", "TcpExtTCPTimeouts")]
    with open(md_path, "w") as f:
        f.write("Kernel TCP counters over each scenario's window (nstat's names, what each rose by): in the\n"
                "app's tasks (their network namespaces, summed; the listen queue of the app is there) and\n"
                "on the host (the load generator and nginx). nginx reloads: \"reconfiguring\" in its log,\n"
                "at seconds from the deploy's start.\n\n")
        f.write("| Scenario | " + " | ".join(f"{n} app / host" for n, _ in short) +
                " | app tasks | nginx reloads |\n")
        f.write("|---|" + "--:|" * len(short) + "--:|---|\n")
        for r in rows:
            cells = [f"{r['app'][k]:,} / {r['host'][k]:,}" for _, k in short]
            at = ", ".join(f"{t:+d} s" for t in r["nginx_reload_at_s"])
            f.write(f"| {r['scenario']} | " + " | ".join(cells) +
                    f" | {r['app_tasks_seen']} | {r['nginx_reloads']}{' (' + at + ')' if at else ''} |\n")


def main():
    args = sys.argv[1:]
    if len(args) in (5, 6) and args[0] == "sample":
        sample(args[1], args[2], args[3], args[4], float(args[5]) if len(args) == 6 else 0.5)
    elif len(args) == 6 and args[0] == "windows":
        windows(*args[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
