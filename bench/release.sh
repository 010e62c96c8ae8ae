#!/usr/bin/env bash
# How a release grows with its number of services: the wall time of a release of N services of
# the test app (every service from 1.0.0 to 2.0.0, blue-green, gated in parallel, switched in one
# write), its peak RSS, and the Docker API requests it made (counted by a proxy in front of the
# engine's socket). As the bound, each run then times Swarm alone starting as many tasks (the old
# zones scaled back up in one command, until every task is running and healthy).
#
#   bench/release.sh [SIZE ...]      SIZE = services[xreplicas][@interval][:runs]
#                                    default: 1x2:3 5x2:3 20x2:3 100x2@30s:1
#   SHIPCTL=path/to/shipctl bench/release.sh ...   (that binary instead of building)
#
# interval: the healthcheck's (default 1s). Each probe is a process Docker starts in the
# container: at 1 s, 100 services x 2 replicas (400 tasks during the overlap) ask for 400 a
# second, more than two cores run, and Docker kills healthy tasks whose probes time out; at 5 s
# it still did (load average 50), at 30 s it does not.
#
# Each size gets a fresh project on an overlay network with a /20 (a /24 holds 254 tasks; a
# release doubles them during the overlap). The first release (creating the zones) is not timed;
# the second is. Prints one line per run and, per size, the medians. Needs the Swarm of
# scripts/test and the test app images (scripts/test-image/build.sh). BENCH_JSON=FILE also
# appends every run's figures, one JSON object per line (bench/figures.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
sizes=("$@")
((${#sizes[@]})) || sizes=(1x2:3 5x2:3 20x2:3 100x2@30s:1)

docker image inspect shipctl-test-app:1.0.0 shipctl-test-app:2.0.0 >/dev/null 2>&1 ||
  scripts/test-image/build.sh >/dev/null
# SHIPCTL=path: that binary (bench/run builds one for all the benchmarks), else a release build.
if [[ -n "${SHIPCTL:-}" ]]; then
  bin="$SHIPCTL"
else
  cargo build --release --quiet
  bin="$here/target/release/shipctl"
fi
engine="${DOCKER_HOST:-unix:///var/run/docker.sock}"
[[ "$engine" == unix://* ]] || { echo "bench/release.sh: DOCKER_HOST must be a unix socket" >&2; exit 1; }
engine="${engine#unix://}"

work="$(mktemp -d)"
project=""
services=()
counter_pid=""
source "$here/bench/lib/swarm-keys.sh"
source "$here/bench/lib/network.sh"
source "$here/bench/lib/project.sh"
source "$here/bench/figures.sh"

stop_counter() {
  [[ -n "$counter_pid" ]] || return 0
  kill -TERM "$counter_pid" 2>/dev/null || true
  wait "$counter_pid" 2>/dev/null || true
  counter_pid=""
}
trap 'stop_counter; remove_project; rm -rf "$work"' EXIT
# Stopped (bench/run's budget, Ctrl-C): the clean-up above still runs.
trap 'exit 143' TERM INT


# How many of the zones in idle_zones show REPLICAS (running/desired) in `docker service ls`.
idle_zones_at() {
  docker service ls --filter "name=${project}_" --format '{{.Name}} {{.Replicas}}' |
    awk -v want="$1" 'NR == FNR { idle[$1] = 1; next } ($1 in idle) && $2 == want' \
      <(printf '%s\n' "${idle_zones[@]}") - | wc -l
}

printf '%-9s %-4s %10s %10s %10s %12s %10s\n' size run "wall s" "RSS MB" "API reqs" "API reqs/s" "tasks/s"
for size in "${sizes[@]}"; do
  spec="${size%%:*}"
  interval=1s
  if [[ "$spec" == *@* ]]; then interval="${spec#*@}"; spec="${spec%@*}"; fi
  runs="${size#*:}"; [[ "$size" == *:* ]] || runs=3
  n="${spec%%x*}"
  replicas="${spec#*x}"; [[ "$spec" == *x* ]] || replicas=2
  : >"$work/walls"; : >"$work/rss"; : >"$work/reqs"; : >"$work/swarm"
  for run in $(seq 1 "$runs"); do
    project="relb$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    docker network create -d overlay --attachable --subnet "10.$((200 + RANDOM % 50)).$((RANDOM % 16 * 16)).0/20" \
      "${project}_net" >/dev/null
    write_project "$n" "$replicas" 'shipctl-test-app:${IMAGE_VERSION:-1.0.0}' "$interval"
    (cd "$work" && "$bin" -p "$project" deploy --yes --output json >"$work/first.json") || {
      echo "size $size run $run: the first release failed" >&2
      tail -5 "$work/first.json" >&2
      exit 1
    }
    sock="$work/counted-$spec-$run.sock"
    python3 "$here/bench/docker-api-counter.py" "$sock" "$engine" "$work/counts.json" &
    counter_pid=$!
    for _ in $(seq 1 50); do
      curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    start=$(date +%s.%N)
    (cd "$work" && DOCKER_HOST="unix://$sock" /usr/bin/time -f '%M' -o "$work/rss.txt" \
      "$bin" -p "$project" deploy --version 2.0.0 --yes --output json >"$work/release.json") || {
      echo "size $size run $run: the timed release failed" >&2
      tail -5 "$work/release.json" >&2
      exit 1
    }
    end=$(date +%s.%N)
    stop_counter
    wall=$(echo "$end - $start" | bc -l)
    rss=$(awk '{printf "%.1f", $1 / 1024}' "$work/rss.txt")
    # Without the script's own readiness pings.
    reqs=$(jq '[.by_path | to_entries[] | select(.key != "GET /_ping") | .value] | add // 0' \
      "$work/counts.json")
    grep -q '"event":"release_switched"' "$work/release.json" || [[ "$n" == 1 ]] || {
      echo "size $size run $run: no release_switched event" >&2
      exit 1
    }
    printf '%-9s %-4s %10.2f %10s %10s %12.1f %10.1f\n' "$spec" "$run" "$wall" "$rss" "$reqs" \
      "$(echo "$reqs / $wall" | bc -l)" "$(echo "$n * $replicas / $wall" | bc -l)"
    echo "$wall" >>"$work/walls"; echo "$rss" >>"$work/rss"; echo "$reqs" >>"$work/reqs"
    cp "$work/counts.json" "$work/counts-$spec.json"
    # Swarm alone, as the bound: the old zones (scaled to 0 by the release) scaled back to the same
    # number of tasks in one command, timed until every one of them is running and healthy.
    mapfile -t idle_zones < <(docker service ls --filter "name=${project}_" --format '{{.Name}} {{.Replicas}}' |
      awk '$2 ~ /\/0$/ { print $1 }')
    ((${#idle_zones[@]} == n)) || { echo "size $size run $run: ${#idle_zones[@]} zones at 0, not $n" >&2; exit 1; }
    # Their last tasks gone first: a task still stopping would count as running.
    until (($(idle_zones_at 0/0) >= n)); do sleep 0.2; done
    start=$(date +%s.%N)
    docker service scale --detach "${idle_zones[@]/%/=$replicas}" >/dev/null
    until (($(idle_zones_at "$replicas/$replicas") >= n)); do sleep 0.2; done
    swarm=$(echo "$(date +%s.%N) - $start" | bc -l)
    printf '%-9s %-4s %10.2f   (Swarm alone: the same %d tasks started and healthy)\n' "$spec" "$run" \
      "$swarm" "$((n * replicas))"
    echo "$swarm" >>"$work/swarm"
    remove_project
  done
  label="release of $n services x $replicas replicas"
  [[ "$interval" == 1s ]] || label+=", healthcheck every $interval"
  printf '%-9s %-4s %10.2f %10s %10s\n' "$spec" median "$(median <"$work/walls")" \
    "$(median <"$work/rss")" "$(median <"$work/reqs")"
  echo "  requests by path (last run): $(jq -c '.by_path' "$work/counts-$spec.json" | cut -c1-300)"
  figure "$label" "wall time" s $(cat "$work/walls")
  figure "$label" "peak RSS" MB $(cat "$work/rss")
  figure "$label" "Docker API requests" requests $(cat "$work/reqs")
  figure "$label" "Swarm alone: start as many tasks" s $(cat "$work/swarm")
done
