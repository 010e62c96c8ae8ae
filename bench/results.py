#!/usr/bin/env python3
"""The results of bench/run: one file per benchmark, merged into one results file, its Markdown
tables, and the README's benchmark table.

    results.py record DIR NAME STATUS REASON SECONDS BUDGET COMMAND LOAD_BEFORE FIGURES.jsonl
    results.py merge DIR RESULTS.json RESULTS.md
    results.py readme RESULTS.json README.md
    results.py commit

`record` writes DIR/NAME.json: how the benchmark ended (ok or failed, and why), its time and
budget, the machine (cores, CPU model, kernel, memory, load average before it, shipctl's
commit, the date) and each figure with every run's value, their number, median, min and max.
`merge` puts the latest file of every benchmark into RESULTS.json (a benchmark not run this
time keeps its last result, with its own date) and writes the tables to RESULTS.md. `readme`
rewrites the table between <!-- bench:begin --> and <!-- bench:end --> in README.md, and the
zero-downtime report between <!-- bench:zero-downtime:begin --> and its end marker, from
RESULTS.json.
"""
import datetime
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys

ORDER = ["plan", "overhead", "zero-downtime", "release", "api-rate"]


def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit():
    """The commit of the tree, and whether what is measured differs from it (the code, the
    manifests, the benchmarks)."""
    c = git("rev-parse", "--short=12", "HEAD")
    if git("status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock", "bench"):
        c += " (with uncommitted changes)"
    return c


def machine(load_before):
    def cpu_model():
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "unknown"

    def memory_gb():
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
        return round(kb / 1024 / 1024, 1)

    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "memory_gb": memory_gb(),
        "load_average_before": [float(x) for x in load_before.split()],
        "shipctl_commit": os.environ.get("BENCH_COMMIT") or commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def summary(values):
    return {
        "runs": len(values),
        "median": round(statistics.median(values), 3) if values else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


def record(out_dir, name, status, reason, seconds, budget, command, load_before, figures_path):
    figures = []
    try:
        with open(figures_path) as f:
            for line in f:
                if line.strip():
                    fig = json.loads(line)
                    values = fig.pop("values")
                    fig.pop("benchmark", None)
                    figures.append({**fig, **summary(values), "values": values})
    except FileNotFoundError:
        pass
    if status == "ok" and not figures:
        status, reason = "failed", "it finished but wrote no figures"
    result = {
        "benchmark": name,
        "command": command,
        "status": status,
        "reason": reason,
        "seconds": round(float(seconds), 1),
        "budget_s": int(budget),
        "machine": machine(load_before),
        "figures": figures,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(result, f, indent=1)
    return status == "ok"


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"
    return f"{int(v):,}"


def merge(out_dir, json_path, md_path):
    results = []
    for path in glob.glob(os.path.join(out_dir, "*.json")):
        with open(path) as f:
            results.append(json.load(f))
    results.sort(key=lambda r: ORDER.index(r["benchmark"]) if r["benchmark"] in ORDER else 99)
    flat = [{"benchmark": r["benchmark"], **{k: v for k, v in fig.items()}}
            for r in results for fig in r["figures"]]
    latest = max(results, key=lambda r: r["machine"]["date"])["machine"] if results else {}
    doc = {
        "machine": latest,
        "benchmarks": [{k: v for k, v in r.items() if k != "figures"} for r in results],
        "results": flat,
    }
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
    with open(md_path, "w") as f:
        m = latest
        if m:
            f.write(f"Machine: {m['cores']} cores ({m['cpu_model']}), {m['memory_gb']} GB, Linux "
                    f"{m['kernel']}; shipctl {m['shipctl_commit']}.\n\n")
        f.write("| benchmark | status | date | load average before | time / budget |\n")
        f.write("|---|---|---|---|--:|\n")
        for r in results:
            status = r["status"] + (f": {r['reason']}" if r["reason"] else "")
            la = " ".join(f"{x:.2f}" for x in r["machine"]["load_average_before"])
            f.write(f"| `{r['command']}` | {status} | {r['machine']['date']} | {la} | "
                    f"{r['seconds']:.0f} s / {r['budget_s']} s |\n")
        for r in results:
            if not r["figures"]:
                continue
            f.write(f"\n### {r['benchmark']}\n\n")
            f.write("| scenario | figure | unit | runs | median | min | max |\n")
            f.write("|---|---|---|--:|--:|--:|--:|\n")
            for fig in r["figures"]:
                f.write(f"| {fig['scenario']} | {fig['figure']} | {fig['unit']} | {fig['runs']} | "
                        f"{fmt(fig['median'])} | {fmt(fig['min'])} | {fmt(fig['max'])} |\n")


class Figures:
    def __init__(self, doc):
        self.doc = doc
        self.by = {(r["benchmark"], r["scenario"], r["figure"]): r for r in doc["results"]}
        self.bench = {b["benchmark"]: b for b in doc["benchmarks"]}

    def get(self, bench, scenario, figure, key="median"):
        r = self.by.get((bench, scenario, figure))
        return None if r is None else r[key]

    def scenarios(self, bench, figure):
        return [r["scenario"] for r in self.doc["results"]
                if r["benchmark"] == bench and r["figure"] == figure]


def num(v, digits=1):
    if v is None:
        return "?"
    return f"{v:,.{digits}f}"


def readme_rows(doc):
    f = Figures(doc)
    rows = []

    def missing(bench):
        b = f.bench.get(bench)
        if b is None:
            return "no figure yet (not run by `bench/run`)"
        return f"no figure: {b['reason'] or b['status']}" if b["status"] != "ok" else None

    # Plan.
    sizes = [int(re.search(r"\d+", s).group()) for s in f.scenarios("plan", "wall time")
             if s.startswith("plan, ")]
    miss = missing("plan")
    cmd = f"`{f.bench['plan']['command']}`" if "plan" in f.bench else "`bench/plan.sh`"
    if miss or not sizes:
        rows.append(("`shipctl plan` of generated compose files", cmd, miss or "no figure"))
    else:
        names = " / ".join(f"{n:,}" for n in sizes)
        sc = [f"plan, {n} services" for n in sizes]
        runs = f.get("plan", sc[0], "wall time", "runs")
        rows.append((
            f"`shipctl plan` of generated compose files with {names} services", cmd,
            f"median {' / '.join(num(f.get('plan', s, 'wall time'), 0) for s in sc)} ms wall "
            f"(min {' / '.join(num(f.get('plan', s, 'wall time', 'min'), 0) for s in sc)}, "
            f"max {' / '.join(num(f.get('plan', s, 'wall time', 'max'), 0) for s in sc)}; {runs} runs), "
            f"peak RSS {' / '.join(num(f.get('plan', s, 'peak RSS', 'max'), 0) for s in sc)} MB"
            + (f", {' / '.join(num(f.get('plan', s, 'instructions'), 0) for s in sc)} million instructions"
               if all(f.get('plan', s, 'instructions') is not None for s in sc) else "")))
        growth = []
        for a, b in zip(sizes, sizes[1:]):
            s = f"plan growth, {a} -> {b} services"
            growth.append(f"{b:,} services take {num(f.get('plan', s, 'wall time ratio'))} times as long as "
                          f"{a:,} ({num(b / a)} when linear), {num(f.get('plan', s, 'peak RSS ratio'))} times the memory")
        if growth:
            rows.append(("how planning grows", cmd, "; ".join(growth)))
        rows.append(("`shipctl --help`", cmd,
                      f"{num(f.get('plan', 'shipctl --help', 'wall time'))} ms, "
                      f"{num(f.get('plan', 'shipctl --help', 'peak RSS', 'max'))} MB"))
    # Release scale (a run stopped at its budget keeps the sizes it finished).
    miss = missing("release")
    sc = f.scenarios("release", "wall time")
    cmd = f"`{f.bench['release']['command']}`" if "release" in f.bench else "`bench/release.sh`"
    if not sc:
        rows.append(("a release of N services of 2 replicas", cmd, miss or "no figure"))
    else:
        counts = [re.search(r"of (\d+) services x (\d+)", s).groups() for s in sc]
        rows.append((
            f"a release of {' / '.join(c[0] for c in counts)} services of {counts[0][1]} replicas (every service "
            f"blue-green, gated in parallel, switched in one write; `swarm://` store)", cmd,
            f"{' / '.join(num(f.get('release', s, 'wall time')) for s in sc)} s wall, "
            f"{' / '.join(num(f.get('release', s, 'peak RSS'), 0) for s in sc)} MB peak RSS, "
            f"{' / '.join(num(f.get('release', s, 'Docker API requests'), 0) for s in sc)} Docker API requests "
            f"(medians of {' / '.join(str(f.get('release', s, 'wall time', 'runs')) for s in sc)} runs); "
            f"Swarm alone starting as many tasks: "
            f"{' / '.join(num(f.get('release', s, 'Swarm alone: start as many tasks')) for s in sc)} s"
            + "".join(f"; {s.split(', ', 1)[1]} for {c[0]} services" for s, c in zip(sc, counts) if ", " in s)
            + (f"; the larger sizes: {miss[len('no figure: '):]}" if miss else "")))
    # Docker API requests per second and the health notice (bench/api-rate.sh): per size, one
    # build ("current") or, when SHIPCTL_BEFORE was given, "before -> after"; a run stopped at
    # its budget keeps the sizes it finished.
    a = "api-rate"
    miss = missing(a)
    cmd = f"`{f.bench[a]['command']}`" if a in f.bench else "`bench/api-rate.sh`"
    builds = {}
    for r in doc["results"]:
        m = re.fullmatch(r"(\d+) services, (\w+)", r["scenario"]) if r["benchmark"] == a else None
        if m:
            builds.setdefault(int(m.group(1)), set()).add(m.group(2))
    sizes = sorted(builds)
    gate, route = "API requests during a gate", "API requests under route"
    med, worst = "health noticed after Swarm (median)", "health noticed after Swarm (max)"
    if not sizes:
        rows.append(("Docker API requests per second while N services are gated at once (one "
                     "release) / under `shipctl route`", cmd, miss or "no figure"))
        rows.append(("health noticed after Swarm's task timestamp", cmd, miss or "no figure"))
    else:
        compared = any("before" in b or "after" in b for b in builds.values())

        def per_size(fig, key="median", digits=1):
            def one(n):
                if compared:
                    return " → ".join(num(f.get(a, f"{n} services, {b}", fig, key), digits)
                                      for b in ("before", "after"))
                return num(f.get(a, f"{n} services, current", fig, key), digits)
            return " / ".join(one(n) for n in sizes)

        def runs(fig):
            return " / ".join(str(next((f.get(a, f"{n} services, {b}", fig, "runs")
                                        for b in ("after", "current", "before")
                                        if f.get(a, f"{n} services, {b}", fig, "runs")), "?"))
                              for n in sizes)
        names = " / ".join(f"{n:,}" for n in sizes)
        note = "before → after: the `SHIPCTL_BEFORE` build, then the one measured; " if compared else ""
        partial = f"; the larger sizes: {miss[len('no figure: '):]}" if miss else ""
        rows.append((
            f"Docker API requests per second while {names} services are gated at once (one "
            f"release) / under `shipctl route`", cmd,
            f"gated {per_size(gate)} requests/s, under `route` {per_size(route)} requests/s "
            f"({note}medians of {runs(gate)} runs){partial}"))
        swarm_lag = "Swarm's own lag: task timestamp to the manager's answer (median)"
        ours_med = "shipctl's lag: manager's answer to shipctl's notice (median)"
        ours_max = "shipctl's lag: manager's answer to shipctl's notice (max)"
        split = ""
        if any(f.get(a, s, ours_med) is not None for s in f.scenarios(a, ours_med)):
            split = (f"; of which Swarm's own lag (the manager's first answer showing the task, "
                     f"polled every 100 ms) median {per_size(swarm_lag, digits=0)} ms, and "
                     f"shipctl's median {per_size(ours_med, digits=0)} ms, max "
                     f"{per_size(ours_max, digits=0)} ms")
        rows.append((
            f"health noticed after Swarm's task timestamp, {names} services", cmd,
            f"median {per_size(med, digits=0)} ms, max {per_size(worst, 'max', digits=0)} ms "
            f"({note}over the services; {runs(med)} runs){split}{partial}"))
    # Deploy overhead.
    miss = missing("overhead")
    ours = f.get("overhead", "shipctl blue-green, 2 replicas", "deploy wall time")
    swarm = f.get("overhead", "Swarm alone, 2 replicas", "create -> all running")
    cmd = f"`{f.bench['overhead']['command']}`" if "overhead" in f.bench else "`bench/deploy-overhead.sh`"
    rows.append(("blue-green deploy of 2 replicas vs Swarm alone starting the same tasks", cmd,
                 miss or f"{num(ours, 2)} s vs {num(swarm, 2)} s median: "
                         f"{f.get('overhead', 'shipctl over Swarm alone', 'overhead (difference of the medians)'):+.2f} s"))
    # Zero downtime.
    miss = missing("zero-downtime")
    if miss:
        rows.append(("requests failed during shipctl's deploys through nginx",
                     "`bench/zero-downtime`", miss))
    else:
        z = "zero-downtime"
        # The bake window deploys a release that answers 5 % of requests with 500 on purpose:
        # its failures are what the analysis catches, counted apart.
        bake = "shipctl, 5% errors, bake"
        shipctl = [s for s in f.scenarios(z, "failed requests")
                   if s.startswith("shipctl") and s != bake]
        failed = sum(f.get(z, s, "failed requests") for s in shipctl)
        total = sum(f.get(z, s, "requests") for s in shipctl)
        idle = "idle, no deploy"
        worst = lambda fig: max(f.get(z, s, fig) for s in shipctl)
        rate = f.get(z, "whole run", "rate")
        at = f" at {rate:,.0f} requests/s" if rate is not None else ""
        baked = (f"; the bake's release, 5 % of its answers 500 on purpose: "
                 f"{f.get(z, bake, 'failed requests'):,} failed before the analysis switched back"
                 if f.get(z, bake, "failed requests") is not None else "")
        rows.append((
            "requests failed during shipctl's blue-green (one task at a time and 4 at once), "
            f"canary + promote, rolling and rollback, and a release failing health{at} through "
            "nginx; the same load with no deploy", "`bench/zero-downtime`",
            f"{failed:,} of {total:,}{baked}; with no deploy {f.get(z, idle, 'failed requests'):,} of "
            f"{f.get(z, idle, 'requests'):,}. Latency in shipctl's windows at worst p99 "
            f"{num(worst('p99'))} ms, p99.9 {num(worst('p99.9'))} ms, max {num(worst('max'))} ms; "
            f"with no deploy p99 {num(f.get(z, idle, 'p99'))} ms, p99.9 {num(f.get(z, idle, 'p99.9'))} ms, "
            f"max {num(f.get(z, idle, 'max'))} ms (details and causes below)"))
    return rows


def readme(json_path, readme_path):
    with open(json_path) as f:
        doc = json.load(f)
    with open(readme_path) as f:
        text = f.read()
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        sys.exit(f"results.py: {readme_path} needs one {begin} and one {end} after it")
    dates = sorted({b["machine"]["date"][:10] for b in doc["benchmarks"]})
    m = doc["machine"]
    loads = ", ".join(f"{b['benchmark']} {b['machine']['load_average_before'][0]:.1f}"
                      for b in doc["benchmarks"])
    # Benchmarks run at different times may have measured different builds: name each one's.
    by_commit = {}
    for b in doc["benchmarks"]:
        by_commit.setdefault(b["machine"].get("shipctl_commit", m["shipctl_commit"]), []).append(
            b["benchmark"])
    builds = (f"shipctl {m['shipctl_commit']}" if len(by_commit) <= 1 else
              "shipctl " + "; ".join(f"{c} for {', '.join(names)}" for c, names in by_commit.items()))
    lines = [
        begin,
        f"Generated by `bench/run --update-readme` from `target/bench/results.json` "
        f"({' to '.join([dates[0], dates[-1]] if len(dates) > 1 else dates)}; {m['cores']} cores, "
        f"{m['cpu_model']}, {m['memory_gb']} GB, Linux {m['kernel']}; {builds}; "
        f"release build; load average before each benchmark: {loads}):",
        "",
        "| what | command | result |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in readme_rows(doc)]
    lines.append(end)
    text = text[:text.index(begin)] + "\n".join(lines) + text[text.index(end) + len(end):]
    zb, ze = "<!-- bench:zero-downtime:begin -->", "<!-- bench:zero-downtime:end -->"
    report = os.path.join(os.path.dirname(json_path), "zero-downtime.md")
    z = next((b for b in doc["benchmarks"] if b["benchmark"] == "zero-downtime"), None)
    if zb in text and ze in text and z and z["status"] == "ok" and os.path.exists(report):
        with open(report) as f:
            body = f.read().strip()
        text = text[:text.index(zb)] + zb + "\n" + body + "\n" + text[text.index(ze):]
    with open(readme_path, "w") as f:
        f.write(text)


def main():
    a = sys.argv[1:]
    if len(a) == 10 and a[0] == "record":
        sys.exit(0 if record(*a[1:]) else 1)
    elif len(a) == 4 and a[0] == "merge":
        merge(*a[1:])
    elif a == ["commit"]:
        print(commit())
    elif len(a) == 3 and a[0] == "readme":
        readme(*a[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
