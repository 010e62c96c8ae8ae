#!/usr/bin/env bash
# Baseline for shipctl's overhead: how long Swarm alone takes to bring 2 replicas of the test
# app to `running` (which, with its 1s healthcheck, means healthy) after `docker service create`.
#
#   bench/swarm-baseline.sh [runs]        (default 5; needs the Swarm of scripts/test)
#
# Prints one line per run and the median, in seconds.
set -euo pipefail

runs="${1:-5}"
image="shipctl-test-app:1.0.0"
replicas=2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

docker image inspect "$image" >/dev/null 2>&1 || "$here/scripts/test-image/build.sh" >/dev/null

name=""
cleanup() { if [[ -n "$name" ]]; then docker service rm "$name" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

now() { date +%s.%N; }

running() { # tasks of $name in state running (and meant to run)
  docker service ps "$name" --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null |
    grep -c '^Running' || true
}

times=()
for i in $(seq 1 "$runs"); do
  name="bench-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  start="$(now)"
  # dnsrr: no IPVS on the test machines (see the test-bed notes).
  docker service create -d -q --name "$name" --replicas "$replicas" --endpoint-mode dnsrr \
    --stop-grace-period 2s "$image" >/dev/null 2>&1
  deadline=$(( $(date +%s) + 120 ))
  until [[ "$(running)" -ge "$replicas" ]]; do
    if (( $(date +%s) > deadline )); then
      echo "run $i: not running after 120 s" >&2
      docker service ps --no-trunc "$name" >&2
      exit 1
    fi
    sleep 0.05
  done
  end="$(now)"
  t="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
  printf 'run %d: %.2f s\n' "$i" "$t"
  times+=("$t")
  docker service rm "$name" >/dev/null
  name=""
  # Let the removed tasks go away so that runs do not overlap.
  sleep 3
done

median="$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')"
printf 'swarm baseline (%d replicas of %s to running/healthy): median %.2f s over %d runs\n' \
  "$replicas" "$image" "$median" "$runs"
