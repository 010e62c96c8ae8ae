#!/usr/bin/env python3
"""The kernel's TCP counters and the router's reloads during the zero-downtime benchmark.

    netcounters.py sample OUT.jsonl STOP_FILE SERVICE_PREFIX NGINX_PID_FILE [INTERVAL]
    netcounters.py windows SAMPLES.jsonl MARKS.tsv NGINX_LOG OUT.json OUT.md [REQUESTS.tsv]

`sample` writes one JSON line every INTERVAL seconds (default 0.5) until STOP_FILE exists:
the counters of the host's network namespace (where the load generator and nginx run) and of
each container of a Swarm service whose name starts with SERVICE_PREFIX (each task has its own
namespace, where the app's listen queue is), plus nginx's worker processes (new workers = a
reload). Containers are found through /proc (their cgroup names the container); the docker
CLI is asked once per new container for its service. Each line also has the CPU: busy and
total ticks (/proc/stat), the time some task waited for a CPU (/proc/pressure/cpu, "some"),
and the CPU ticks of each process of the groups in GROUPS (by command name).

`windows` gives, per scenario of MARKS.tsv (the benchmark's marks), what each counter rose by
in the host and in the app's tasks (summed over the tasks seen), and nginx's reloads (from its
notice log, "reconfiguring", and from the worker changes), as JSON and as a Markdown table;
then the CPU over the window: how busy (mean, and the busiest sample), how long some task
waited for a CPU, and the CPU seconds of each group (a process counts from the first sample it
is seen in, so short-lived ones, such as healthcheck probes, show only in the busy share).
With the load generator's REQUESTS.tsv, it also finds where each window's slow answers fell:
the answers slower than twice the first (idle) window's p99, per second from the deploy's start,
next to what happened in that second: the CPU's busiest sample, the app's tasks that started or
stopped, nginx's reloads.
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
# Command names (/proc/PID/comm, at most 15 characters) -> the group their CPU counts for.
GROUPS = {
    "dockerd": "Docker",
    "containerd": "Docker",
    "containerd-shim": "Docker",
    "runc": "Docker",
    "docker-proxy": "Docker",
    "python3": "app",
    "shipctl": "shipctl",
    "nginx": "nginx",
    # Other routers (ROUTER=haproxy or caddy) are counted where nginx is, and named as they are.
    "haproxy": "nginx",
    "caddy": "nginx",
    "shipctl-loadgen": "load generator",
}
# The router the run goes through, for the tables' words (its figures keep nginx's keys).
ROUTER = os.environ.get("ROUTER", "nginx")
GROUP_ORDER = ["Docker", "app", "shipctl", "nginx", "load generator"]
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


def pids():
    """Every process id in /proc."""
    return (entry for entry in os.listdir("/proc") if entry.isdigit())


def containers():
    """{container id: a pid in it} for every running container, from /proc."""
    out = {}
    for entry in pids():
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                m = CONTAINER.search(f.read())
        except OSError:
            continue
        if m and m.group(1) not in out:
            out[m.group(1)] = entry
    return out


def cpu_totals():
    """[busy ticks, all ticks] of every CPU (/proc/stat), and the microseconds some task waited
    for a CPU (/proc/pressure/cpu, None without PSI)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    # idle and iowait are the 4th and 5th; guest time is already in user and nice.
    total = sum(ticks[:8])
    busy = total - ticks[3] - ticks[4]
    waited = None
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some "):
                    waited = int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return [busy, total], waited


def in_container(pid):
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return CONTAINER.search(f.read()) is not None
    except OSError:
        return False


def group_ticks():
    """{pid: [group, utime + stime ticks]} for the processes of GROUPS."""
    out = {}
    for entry in pids():
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The name is in parentheses and may hold spaces: the fields follow the last ")".
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        group = GROUPS.get(name) or ("Docker" if name.startswith("containerd-shim") else None)
        if group is None:
            continue
        if group == "app" and not in_container(entry):
            continue  # a Python of the benchmark itself, such as this script
        fields = stat[stat.rfind(")") + 2:].split()
        out[entry] = [group, int(fields[11]) + int(fields[12])]
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
            cpu, waited = cpu_totals()
            line = {
                "t": int(started * 1000),
                "cpu": cpu,
                "cpu_waited_us": waited,
                "procs": group_ticks(),
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


def busy(a, b):
    """How busy the CPUs were between two samples, in %."""
    d_total = b["cpu"][1] - a["cpu"][1]
    return 100 * (b["cpu"][0] - a["cpu"][0]) / d_total if d_total > 0 else 0.0


def cpu_of(first, last, inside):
    """Busy share (mean and busiest sample), the share of time some task waited for a CPU, and
    the CPU seconds of each group, from the samples of one window."""
    steps = [busy(a, b) for a, b in zip(inside, inside[1:])]
    waited = None
    if first.get("cpu_waited_us") is not None and last.get("cpu_waited_us") is not None:
        elapsed_us = (last["t"] - first["t"]) * 1000
        if elapsed_us > 0:
            waited = 100 * (last["cpu_waited_us"] - first["cpu_waited_us"]) / elapsed_us
    tick = os.sysconf("SC_CLK_TCK")
    ticks = {}
    # Per process: from its ticks at the start (0 if it started later) to the last sample it is
    # seen in. Whole ticks are summed, so that the result does not depend on the order.
    seen_pids = {p for s in inside for p in s.get("procs", {})}
    for pid in seen_pids:
        seen = [s["procs"][pid] for s in inside if pid in s.get("procs", {})]
        start = first.get("procs", {}).get(pid)
        used = seen[-1][1] - (start[1] if start and start[0] == seen[-1][0] else 0)
        ticks[seen[-1][0]] = ticks.get(seen[-1][0], 0) + max(used, 0)
    return {
        "busy_pct": busy(first, last),
        "busy_max_pct": max(steps, default=0.0),
        "waited_pct": waited,
        "seconds": {group: n / tick for group, n in ticks.items()},
    }


def windows(samples_path, marks_path, log_path, json_path, md_path, requests_path=None):
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
        cpu = cpu_of(first, last, inside)
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
            "cpu": cpu,
        })
    short = [("ListenOverflows", "TcpExtListenOverflows"), ("ListenDrops", "TcpExtListenDrops"),
             ("TCPSynRetrans", "TcpExtTCPSynRetrans"), ("RetransSegs", "TcpRetransSegs"),
             ("TCPTimeouts", "TcpExtTCPTimeouts")]
    with open(md_path, "w") as f:
        f.write("Kernel TCP counters over each scenario's window (nstat's names, what each rose by): in the\n"
                "app's tasks (their network namespaces, summed; the listen queue of the app is there) and\n"
                f"on the host (the load generator and {ROUTER}). {ROUTER} reloads: \"reconfiguring\" in its log,\n"
                "at seconds from the deploy's start.\n\n")
        f.write("| Scenario | " + " | ".join(f"{n} app / host" for n, _ in short) +
                f" | app tasks | {ROUTER} reloads |\n")
        f.write("|---|" + "--:|" * len(short) + "--:|---|\n")
        for r in rows:
            cells = [f"{r['app'][k]:,} / {r['host'][k]:,}" for _, k in short]
            at = ", ".join(f"{t:+d} s" for t in r["nginx_reload_at_s"])
            f.write(f"| {r['scenario']} | " + " | ".join(cells) +
                    f" | {r['app_tasks_seen']} | {r['nginx_reloads']}{' (' + at + ')' if at else ''} |\n")
        f.write("\nThe CPU over each window (%d CPUs): how busy, on average and in the busiest half-second\n"
                "sample; the share of the time that some task waited for a CPU (PSI \"some\"); CPU\n"
                "seconds used by each group of processes (Docker: dockerd, containerd and its shims, runc\n"
                "and docker-proxy, its port proxy).\n\n"
                % os.cpu_count())
        f.write("| Scenario | busy, mean / max | waited for a CPU | " +
                " | ".join(f"{ROUTER if g == 'nginx' else g} CPU s" for g in GROUP_ORDER) + " |\n")
        f.write("|---|--:|--:|" + "--:|" * len(GROUP_ORDER) + "\n")
        for r in rows:
            c = r["cpu"]
            waited = "n/a" if c["waited_pct"] is None else f"{c['waited_pct']:.0f} %"
            f.write(f"| {r['scenario']} | {c['busy_pct']:.0f} % / {c['busy_max_pct']:.0f} % | {waited} | " +
                    " | ".join(f"{c['seconds'].get(g, 0):.1f}" for g in GROUP_ORDER) + " |\n")
        if requests_path:
            slow_seconds(samples, marks, reloads, requests_path, rows, f)
    with open(json_path, "w") as f:
        json.dump(rows, f, indent=1)


def slow_seconds(samples, marks, reloads, requests_path, rows, md):
    """Where the slow answers of each window fell, and what happened in those seconds."""
    # due ms, latency us (errors count as slow: they are in the tail too)
    answers = []
    with open(requests_path) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3:
                answers.append((int(cols[0]), int(cols[1]) / 1000, cols[2].startswith("2")))
    answers.sort()
    idle_start, idle_end = int(marks[0][3]), int(marks[0][6])
    idle = sorted(lat for t, lat, _ in answers if idle_start <= t < idle_end)
    if not idle:
        return
    idle_p99 = idle[min(len(idle) - 1, int(len(idle) * 0.99))]
    limit = 2 * idle_p99
    md.write(f"\nWhere the slow answers fell: answers slower than twice the idle window's p99 "
             f"({limit:.1f} ms) or failed, per second from the deploy's start (the 3 busiest seconds of "
             "each window), with the busiest CPU sample of that second, the app's tasks that started "
             "(+) or stopped (-) and nginx's reloads in it; \"in busy seconds\": the share of the "
             "window's slow answers that fell in a second whose CPU sample reached 90 % or in, or "
             "next to, which a task started or stopped.\n\n")
    md.write("| Scenario | slow answers | in busy seconds | the busiest seconds: slow answers (CPU max, tasks, reloads) |\n")
    md.write("|---|--:|--:|---|\n")
    for m, row in zip(marks, rows):
        start, deploy_start, end = int(m[3]), int(m[4]), int(m[6])
        per_second = {}
        for t, lat, ok in answers:
            if start <= t < end and (lat > limit or not ok):
                sec = (t - deploy_start) // 1000
                per_second[sec] = per_second.get(sec, 0) + 1
        cpu_max, started, stopped = {}, {}, {}
        inside = [x for x in samples if start - 500 <= x["t"] <= end + 500]
        for a, b in zip(inside, inside[1:]):
            sec = (b["t"] - deploy_start) // 1000
            cpu_max[sec] = max(cpu_max.get(sec, 0), busy(a, b))
            started[sec] = started.get(sec, 0) + len(set(b["app"]) - set(a["app"]))
            stopped[sec] = stopped.get(sec, 0) + len(set(a["app"]) - set(b["app"]))
        reload_s = {}
        for t in reloads:
            if start - 999 <= t < end:
                sec = (t - deploy_start) // 1000
                reload_s[sec] = reload_s.get(sec, 0) + 1
        total = sum(per_second.values())
        # A task's start or stop shows in the 0.5 s samples up to a second off its CPU burst.
        busy_seconds = {sec for sec in per_second
                        if cpu_max.get(sec, 0) >= 90
                        or any(started.get(x) or stopped.get(x) for x in (sec - 1, sec, sec + 1))}
        in_busy = sum(per_second[sec] for sec in busy_seconds)
        top = sorted(per_second.items(), key=lambda kv: -kv[1])[:3]
        cells = []
        for sec, n in sorted(top):
            what = [f"CPU {cpu_max.get(sec, 0):.0f} %"]
            if started.get(sec):
                what.append(f"+{started[sec]} tasks")
            if stopped.get(sec):
                what.append(f"-{stopped[sec]} tasks")
            if reload_s.get(sec):
                what.append(f"{reload_s[sec]} reload{'s' if reload_s[sec] > 1 else ''}")
            cells.append(f"{sec:+d} s: {n} ({', '.join(what)})")
        row["slow_answers"] = total
        row["slow_answers_in_busy_seconds"] = in_busy
        row["slow_limit_ms"] = limit
        share = f"{100 * in_busy / total:.0f} %" if total else "-"
        md.write(f"| {m[0]} | {total:,} | {share} | {'; '.join(cells) or '-'} |\n")


def main():
    args = sys.argv[1:]
    if len(args) in (5, 6) and args[0] == "sample":
        sample(args[1], args[2], args[3], args[4], float(args[5]) if len(args) == 6 else 0.5)
    elif len(args) in (6, 7) and args[0] == "windows":
        windows(*args[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
