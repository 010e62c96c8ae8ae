#!/usr/bin/env bash
# How hard shipctl leans on the Swarm manager: the Docker API requests per second while a
# release waits on the health of N services (gated at once), and while `shipctl route` serves
# N services; and how long after Swarm reports a task running shipctl notices it.
#
#   bench/api-rate.sh [SERVICES ...]            default: 1 20 100
#
#   SHIPCTL=path          the binary to measure [default: a release build of this tree]
#   SHIPCTL_BEFORE=path   also measure this one (e.g. a build of an earlier commit), as "before"
#   RUNS=n                runs per size and binary [default: 1]
#   ROUTE_SECONDS=s       how long `route` is counted, after 2 s to settle [default: 10]
#   BENCH_JSON=file       also append the figures there (bench/figures.sh)
#
# Each run deploys a fresh project of SERVICES services (1 replica of the test app, a
# healthcheck whose first probe comes 4 s after the start, so every gate waits a few seconds)
# with `deploy --parallel SERVICES`, through a proxy in front of the engine's socket that logs
# every request with its time. Then it runs `route` for the project through the same proxy.
#   gate:  the requests from the last service created to the last service seen healthy, per
#          second of that window (the lock's renewals included);
#   route: the requests of `route` per second, its first 2 s left out;
#   notice: per service, from the task's status timestamp as Swarm reports it (`running`) to
#          the `health_progress` event in which shipctl counts it healthy (the NDJSON lines are
#          stamped as they arrive); median and max over the services. Split in two by
#          bench/task-watcher.py, which asks the engine directly (not through the proxy) every
#          100 ms when the manager first lists each task as running:
#     swarm: from the task's timestamp to the manager's first answer that shows it (Swarm's own
#            lag: the node's report reaching the manager; up to 100 ms too long);
#     shipctl: from that answer to shipctl's event (what shipctl adds; up to 100 ms too short).
# Needs the Swarm of scripts/test and the test app images (scripts/test-image/build.sh).
# Everything it creates (services, network, keys) is removed on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
sizes=("$@")
((${#sizes[@]})) || sizes=(1 20 100)
runs="${RUNS:-1}"
route_seconds="${ROUTE_SECONDS:-10}"
for tool in python3 jq curl; do
  command -v "$tool" >/dev/null || { echo "bench/api-rate.sh: needs $tool" >&2; exit 2; }
done

docker image inspect shipctl-test-app:1.0.0 >/dev/null 2>&1 ||
  scripts/test-image/build.sh >/dev/null
if [[ -z "${SHIPCTL:-}" ]]; then
  cargo build --release --quiet
  SHIPCTL="$here/target/release/shipctl"
fi
builds=()
[[ -n "${SHIPCTL_BEFORE:-}" ]] && builds+=("before=$SHIPCTL_BEFORE")
builds+=("after=$SHIPCTL")
[[ -z "${SHIPCTL_BEFORE:-}" ]] && builds=("current=$SHIPCTL")

engine="${DOCKER_HOST:-unix:///var/run/docker.sock}"
[[ "$engine" == unix://* ]] || { echo "bench/api-rate.sh: DOCKER_HOST must be a unix socket" >&2; exit 1; }
engine="${engine#unix://}"

work="$(mktemp -d)"
project=""
services=()
proxy_pid=""
route_pid=""
watcher_pid=""
source "$here/bench/lib/swarm-keys.sh"
source "$here/bench/lib/network.sh"
source "$here/bench/lib/project.sh"
source "$here/bench/figures.sh"

# Stamps each line of stdin with the time it arrived.
cat >"$work/stamp.py" <<'PY'
import sys, time
for line in sys.stdin:
    sys.stdout.write(f"{time.time():.6f} {line}")
    sys.stdout.flush()
PY

# The figures of one run, from the proxy's log, the stamped events and the tasks as Swarm
# reports them: prints "gate_requests gate_seconds route_requests route_seconds notice_median_ms
# notice_max_ms noticed swarm_median_ms swarm_max_ms shipctl_median_ms shipctl_max_ms".
cat >"$work/figures.py" <<'PY'
import json, sys
from datetime import datetime
requests_log, events_file, tasks_file, services_file, route_from, route_to, seen_file = sys.argv[1:8]
try:
    seen = json.load(open(seen_file))
except (OSError, ValueError):
    seen = {}
route_from, route_to = float(route_from), float(route_to)
requests = []
for line in open(requests_log):
    t, method, path = line.split(" ", 2)
    requests.append((float(t), method, path.strip()))
healthy_at = {}
for line in open(events_file):
    t, _, body = line.partition(" ")
    try:
        event = json.loads(body)
    except ValueError:
        continue
    if event.get("event") == "health_progress" and event["healthy"] >= event["desired"] > 0:
        healthy_at.setdefault(event["service"], float(t))
creates = [t for t, m, p in requests if m == "POST" and p == "/services/create" and t < route_from]
gate_from = max(creates) if creates else 0.0
gate_to = max(healthy_at.values()) if healthy_at else gate_from
gate = [r for r in requests if gate_from <= r[0] <= gate_to]
route = [r for r in requests if route_from <= r[0] <= route_to]

def epoch(stamp):
    # RFC 3339 with nanoseconds: keep microseconds for Python.
    date, _, rest = stamp.partition(".")
    fraction = rest.rstrip("Z")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{date}.{fraction}+00:00").timestamp()

names = {s["ID"]: s["Spec"]["Name"] for s in json.load(open(services_file))}
delays, swarm_lags, our_lags = [], [], []
for task in json.load(open(tasks_file)):
    status = task.get("Status", {})
    if status.get("State") != "running" or task.get("DesiredState") != "running":
        continue
    name = names.get(task.get("ServiceID"), "")
    logical = name.split("_", 1)[-1].rsplit("-", 1)[0]
    if logical in healthy_at:
        delays.append((healthy_at[logical] - epoch(status["Timestamp"])) * 1000)
        if name in seen:
            swarm_lags.append((seen[name] - epoch(status["Timestamp"])) * 1000)
            our_lags.append((healthy_at[logical] - seen[name]) * 1000)

def median_max(values):
    values = sorted(values)
    if not values:
        return "nan nan"
    return f"{values[(len(values) - 1) // 2]:.0f} {values[-1]:.0f}"

notice_median, notice_max = median_max(delays).split()
print(len(gate), f"{max(gate_to - gate_from, 0.001):.3f}", len(route),
      f"{route_to - route_from:.3f}", notice_median, notice_max, len(delays),
      median_max(swarm_lags), median_max(our_lags))
PY

stop() { # pid variable name
  local pid="${!1}"
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  printf -v "$1" '%s' ""
}
trap 'stop route_pid; stop watcher_pid; stop proxy_pid; remove_project; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

rate() { echo "scale=1; $1 / $2" | bc -l; }

one_run() { # binary services: writes the figures line to $work/figures
  local bin=$1 n=$2
  project="rate$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  local sock="$work/$project.sock"
  docker network create -d overlay --attachable \
    --subnet "10.$((200 + RANDOM % 50)).$((RANDOM % 16 * 16)).0/20" "${project}_net" >/dev/null
  # A 4 s healthcheck interval: every gate waits a few seconds for its first probe.
  write_project "$n" 1 shipctl-test-app:1.0.0 4s
  : >"$work/requests.log"
  python3 "$here/bench/docker-api-counter.py" "$sock" "$engine" "$work/counts.json" "$work/requests.log" &
  proxy_pid=$!
  for _ in $(seq 1 50); do
    curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  : >"$work/requests.log"
  rm -f "$work/seen.json"
  python3 "$here/bench/task-watcher.py" "$engine" "$project" "$n" "$work/seen.json" &
  watcher_pid=$!
  (cd "$work" && DOCKER_HOST="unix://$sock" "$bin" -p "$project" deploy --yes \
    --parallel "$n" --output json | python3 -u "$work/stamp.py" >"$work/events.ts") || {
    echo "bench/api-rate.sh: the release of $n services failed" >&2
    tail -5 "$work/events.ts" >&2
    return 1
  }
  stop watcher_pid
  # The services and their tasks as Swarm reports them, read beside the proxy.
  curl -sf --unix-socket "$engine" -G http://localhost/services \
    --data-urlencode "filters={\"label\":[\"com.docker.stack.namespace=$project\"]}" \
    >"$work/services.json"
  curl -sf --unix-socket "$engine" -G http://localhost/tasks \
    --data-urlencode "filters=$(jq -c '{service: map(.ID)}' "$work/services.json")" \
    >"$work/tasks.json"

  # exec: the pid is shipctl's, which `stop` must reach.
  (cd "$work" && DOCKER_HOST="unix://$sock" exec "$bin" -p "$project" route \
    --config "$work/router.conf" --id "bench-$project" >"$work/route.out" 2>&1) &
  route_pid=$!
  sleep 2
  local route_from route_to
  route_from="$(date +%s.%N)"
  sleep "$route_seconds"
  route_to="$(date +%s.%N)"
  stop route_pid
  stop proxy_pid
  python3 "$work/figures.py" "$work/requests.log" "$work/events.ts" "$work/tasks.json" \
    "$work/services.json" "$route_from" "$route_to" "$work/seen.json" >"$work/figures"
  awk -v from="$route_from" -v to="$route_to" '$1 >= from && $1 <= to {print $2, $3}' \
    "$work/requests.log" | sort | uniq -c | sort -rn | head -4 | tr '\n' ';' >"$work/route-paths"
  remove_project
}

printf '%-8s %-8s %-7s %9s %9s %11s   %s\n' services phase build requests seconds "requests/s" \
  "notice ms (median / max), of which Swarm's own lag and shipctl's"
for n in "${sizes[@]}"; do
  for build in "${builds[@]}"; do
    name="${build%%=*}" bin="${build#*=}"
    gate_rates=() route_rates=() notice_medians=() notice_maxes=() swarm_medians=() ours_medians=()
    ours_maxes=()
    for run in $(seq 1 "$runs"); do
      # In this shell, not a subshell: the trap must see what it created.
      one_run "$bin" "$n"
      read -r gate_reqs gate_secs route_reqs route_secs notice_median notice_max noticed \
        swarm_median swarm_max ours_median ours_max <"$work/figures"
      gate_rate="$(rate "$gate_reqs" "$gate_secs")"
      route_rate="$(rate "$route_reqs" "$route_secs")"
      printf '%-8s %-8s %-7s %9s %9.1f %11s   %s / %s (%s tasks): Swarm %s / %s, shipctl %s / %s\n' \
        "$n" gate "$name" "$gate_reqs" "$gate_secs" "$gate_rate" "$notice_median" "$notice_max" \
        "$noticed" "$swarm_median" "$swarm_max" "$ours_median" "$ours_max"
      printf '%-8s %-8s %-7s %9s %9.1f %11s   %s\n' "$n" route "$name" "$route_reqs" \
        "$route_secs" "$route_rate" "$(cat "$work/route-paths")"
      gate_rates+=("$gate_rate") route_rates+=("$route_rate")
      notice_medians+=("$notice_median") notice_maxes+=("$notice_max")
      swarm_medians+=("$swarm_median") ours_medians+=("$ours_median") ours_maxes+=("$ours_max")
    done
    if ((runs > 1)); then
      printf '%-8s %-8s %-7s %9s %9s %11s   %s / %s\n' "$n" "median" "$name" "" "" \
        "$(printf '%s\n' "${gate_rates[@]}" | median) / $(printf '%s\n' "${route_rates[@]}" | median)" \
        "$(printf '%s\n' "${notice_medians[@]}" | median)" "$(printf '%s\n' "${notice_maxes[@]}" | median)"
    fi
    figure "$n services, $name" "API requests during a gate" "requests/s" "${gate_rates[@]}"
    figure "$n services, $name" "API requests under route" "requests/s" "${route_rates[@]}"
    figure "$n services, $name" "health noticed after Swarm (median)" "ms" "${notice_medians[@]}"
    figure "$n services, $name" "health noticed after Swarm (max)" "ms" "${notice_maxes[@]}"
    figure "$n services, $name" "Swarm's own lag: task timestamp to the manager's answer (median)" "ms" \
      "${swarm_medians[@]}"
    figure "$n services, $name" "shipctl's lag: manager's answer to shipctl's notice (median)" "ms" \
      "${ours_medians[@]}"
    figure "$n services, $name" "shipctl's lag: manager's answer to shipctl's notice (max)" "ms" \
      "${ours_maxes[@]}"
  done
done
