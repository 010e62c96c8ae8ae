#!/usr/bin/env bash
# shipctl's overhead over Swarm itself: the wall time of a blue-green deploy of 2 replicas of the
# test app (blue 1.0.0 -> green 1.1.0, min_healthy 0s and drain 0s so that only the mechanism
# counts) against the time Swarm alone takes to bring 2 tasks of the same image, with the same
# healthcheck (the image's own), to `running` (bench/swarm-baseline.sh).
#
#   bench/deploy-overhead.sh [runs]        (default 5; needs the Swarm of scripts/test)
#   SHIPCTL=path/to/shipctl bench/deploy-overhead.sh   (that binary instead of building)
#
# Each run deploys a fresh project: blue 1.0.0 first (not timed), then the timed switch to green
# 1.1.0, then everything is removed. Prints both medians, the difference, and the steps of the
# last timed deploy (from its NDJSON events) to show where the time goes. BENCH_JSON=FILE also
# appends every run's times and the overhead, one JSON object per line (bench/figures.sh).
set -euo pipefail

runs="${1:-5}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

docker image inspect shipctl-test-app:1.0.0 shipctl-test-app:1.1.0 >/dev/null 2>&1 ||
  scripts/test-image/build.sh >/dev/null
# SHIPCTL=path: that binary (bench/run builds one for all the benchmarks), else a release build.
if [[ -n "${SHIPCTL:-}" ]]; then
  bin="$SHIPCTL"
else
  cargo build --release --quiet
  bin="$here/target/release/shipctl"
fi

work="$(mktemp -d)"
project=""
remove_project() {
  [[ -n "$project" ]] || return 0
  docker service rm "${project}_web-blue" "${project}_web-green" >/dev/null 2>&1 || true
  remove_network "${project}_default" 40
  remove_keys "$project/"
  project=""
}

source "$here/bench/lib/swarm-keys.sh"
source "$here/bench/lib/network.sh"
source "$here/bench/figures.sh"
trap 'remove_project; rm -rf "$work"' EXIT
# Stopped (bench/run's budget, Ctrl-C): the clean-up above still runs.
trap 'exit 143' TERM INT

# The image's own healthcheck (1s interval), as in the baseline; no network of our own.
cat >"$work/compose.yaml" <<'YAML'
services:
  web:
    image: shipctl-test-app:${IMAGE_VERSION:-1.0.0}
    stop_grace_period: 2s
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
YAML
cat >"$work/shipctl.yaml" <<'YAML'
kv:
  url: swarm://
  keys:
    active_zone: "{project}/{service}-active-zone"
    active_version: "{project}/{service}-active-version"
    traffic: "{project}/{service}-traffic"
    lock: "{project}/{service}-lock"
    history: "{project}/{service}-history"
    progress: "{project}/{service}-progress"
defaults:
  strategy: blue-green
  health:
    timeout: 2m
    min_healthy: 0s
  drain: 0s
YAML

shipctl() {
  "$bin" -f "$work/compose.yaml" --spec "$work/shipctl.yaml" -p "$project" --yes "$@"
}
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "== Swarm alone (bench/swarm-baseline.sh $runs)"
# Shown as it runs; not `tee /dev/stderr`, which reopens a redirected log and overwrites it.
baseline_out="$("$here/bench/swarm-baseline.sh" "$runs" | tee >(cat >&2))"
# Its line "create -> all running/healthy: X s": the median time Swarm takes to start the tasks.
baseline="$(sed -n 's|.*create -> all running/healthy: *\([0-9.]*\) s.*|\1|p' <<<"$baseline_out" | tail -n1)"
[[ -n "$baseline" ]] || { echo "no 'create -> all running/healthy' median in the baseline's output" >&2; exit 1; }

echo "== shipctl deploy, blue-green 1.0.0 -> 1.1.0, 2 replicas ($bin)"
times=()
for i in $(seq 1 "$runs"); do
  project="bench-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  shipctl deploy --version 1.0.0 >/dev/null 2>"$work/first.log" || {
    cat "$work/first.log" >&2
    exit 1
  }
  start="$(now)"
  shipctl deploy --version 1.1.0 --output json >"$work/events.ndjson" 2>"$work/switch.log" || {
    cat "$work/switch.log" "$work/events.ndjson" >&2
    exit 1
  }
  end="$(now)"
  t="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
  printf 'run %d: %.2f s\n' "$i" "$t"
  times+=("$t")
  remove_project
  sleep 3
done
ours="$(printf '%s\n' "${times[@]}" | median)"

echo "== steps of the last shipctl run"
jq -r 'select(.event == "step_finished") | "  \(.elapsed_ms) ms  \(.summary)"' "$work/events.ndjson" 2>/dev/null ||
  cat "$work/events.ndjson"

printf '\nmedians over %d runs: swarm alone %.2f s, shipctl deploy %.2f s, overhead %+.2f s\n' \
  "$runs" "$baseline" "$ours" "$(awk -v a="$ours" -v b="$baseline" 'BEGIN { print a - b }')"
figure "shipctl blue-green, 2 replicas" "deploy wall time" s "${times[@]}"
figure "shipctl over Swarm alone" "overhead (difference of the medians)" s \
  "$(awk -v a="$ours" -v b="$baseline" 'BEGIN { printf "%.3f", a - b }')"
