#!/usr/bin/env bash
# Baseline for shipctl's overhead: how long Swarm alone takes to bring 2 replicas of the test
# app to `running` (which, with its 1s healthcheck, means healthy) after `docker service create`,
# and then to replace them with a new version (`docker service update --image`, start-first).
#
#   bench/swarm-baseline.sh [runs]        (default 5; needs the Swarm of scripts/test)
#
# Prints one line per run and the medians, in seconds. BENCH_JSON=FILE also appends every run's
# times, one JSON object per line (bench/figures.sh).
set -euo pipefail

runs="${1:-5}"
image="shipctl-test-app:1.0.0"
next_image="shipctl-test-app:2.0.0"
replicas=2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/bench/figures.sh"

docker image inspect "$next_image" >/dev/null 2>&1 || "$here/scripts/test-image/build.sh" >/dev/null

name=""
cleanup() { if [[ -n "$name" ]]; then docker service rm "$name" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
# Stopped (bench/run's budget, Ctrl-C): the clean-up above still runs.
trap 'exit 143' TERM INT

now() { date +%s.%N; }

running() { # tasks of $name running image $1 (and meant to run)
  docker service ps "$name" --filter desired-state=running --format '{{.Image}} {{.CurrentState}}' \
    2>/dev/null | grep -c "^$1 Running" || true
}

wait_running() { # image run-number what
  local deadline=$(( $(date +%s) + 120 ))
  until [[ "$(running "$1")" -ge "$replicas" ]]; do
    if (( $(date +%s) > deadline )); then
      echo "run $2: $3 not done after 120 s" >&2
      docker service ps --no-trunc "$name" >&2
      exit 1
    fi
    sleep 0.05
  done
}

seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

creates=()
updates=()
for i in $(seq 1 "$runs"); do
  name="bench-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  start="$(now)"
  # dnsrr: no IPVS on the test machines (see the test-bed notes).
  docker service create -d -q --name "$name" --replicas "$replicas" --endpoint-mode dnsrr \
    --stop-grace-period 2s --update-order start-first "$image" >/dev/null 2>&1
  wait_running "$image" "$i" "create"
  created="$(now)"
  docker service update -d -q --image "$next_image" "$name" >/dev/null 2>&1
  wait_running "$next_image" "$i" "update"
  updated="$(now)"
  c="$(seconds "$start" "$created")"
  u="$(seconds "$created" "$updated")"
  printf 'run %d: create %.2f s, update %.2f s\n' "$i" "$c" "$u"
  creates+=("$c")
  updates+=("$u")
  docker service rm "$name" >/dev/null
  name=""
  # Let the removed tasks go away so that runs do not overlap.
  sleep 3
done

printf 'swarm baseline, %d replicas of the test app, median of %d runs:\n' "$replicas" "$runs"
printf '  create -> all running/healthy:        %.2f s\n' "$(printf '%s\n' "${creates[@]}" | median)"
printf '  update (start-first) -> all replaced: %.2f s\n' "$(printf '%s\n' "${updates[@]}" | median)"
figure "Swarm alone, $replicas replicas" "create -> all running" s "${creates[@]}"
figure "Swarm alone, $replicas replicas" "update (start-first) -> all replaced" s "${updates[@]}"
