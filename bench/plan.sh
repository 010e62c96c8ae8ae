#!/usr/bin/env bash
# Measures `shipctl plan` (loading the compose file and planning, no cluster: --assume-state)
# on generated compose files of 250, 1,000 and 4,000 services: wall time (median, min and max of
# RUNS runs, after 2 warm-up runs) and peak RSS, and how both grow (linear work: 4,000 services
# take about 4 times as long as 1,000). Also times `shipctl --help`.
#
#   bench/plan.sh [RUNS]          (default 15)
#   SIZES="1000" bench/plan.sh    (other sizes)
#   SHIPCTL=path/to/shipctl bench/plan.sh   (that binary, e.g. an older build, instead of building)
#   SHIPCTL_BEFORE=path bench/plan.sh       (also that build, run by turns with this one: on a
#                                            busy machine, only runs made side by side compare)
#
# Needs GNU time for the peak RSS (apt-get install -y time). BENCH_JSON=FILE also appends the
# figures (every run's wall time, the peak RSS), one JSON object per line (bench/figures.sh).
# With valgrind installed it also counts the instructions of one run of each size (callgrind):
# a figure that, unlike wall time, does not move with the machine's load, so two builds can be
# compared on a busy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/figures.sh
runs=${1:-15}
sizes=${SIZES:-250 1000 4000}
[[ -x /usr/bin/time ]] || { echo "bench/plan.sh: needs GNU time (apt-get install -y time)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Stopped (bench/run's budget, Ctrl-C): the clean-up above still runs.
trap 'exit 143' TERM INT

if [[ -n ${SHIPCTL:-} ]]; then
  bin=$SHIPCTL
else
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/shipctl
fi

# Wall time of one run in microseconds; the peak RSS (KiB) goes to $work/rss.
once() {
  local start end
  start=${EPOCHREALTIME/./}
  /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null
  end=${EPOCHREALTIME/./}
  echo $((end - start))
}

# median min max (ms, one decimal) and peak RSS (MB) of RUNS runs of a command; every run's
# wall time (ms) and peak RSS (MB) go to $work/times and $work/rss-all.
measure() {
  "$@" >/dev/null # once before measuring, so that a failing command stops here with its error
  once "$@" >/dev/null
  once "$@" >/dev/null
  local times=() rsses=() rss=0 t
  for ((i = 0; i < runs; i++)); do
    t=$(once "$@")
    times+=("$t")
    r=$(tail -n1 "$work/rss")
    rsses+=("$r")
    ((r > rss)) && rss=$r
  done
  printf '%s\n' "${times[@]}" | awk '{ printf "%.3f\n", $1 / 1000 }' >"$work/times"
  printf '%s\n' "${rsses[@]}" | awk '{ printf "%.1f\n", $1 / 1024 }' >"$work/rss-all"
  printf '%s\n' "${times[@]}" | sort -n | awk -v rss="$rss" '
    { t[NR] = $1 }
    END {
      median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      printf "%.1f %.1f %.1f %.1f\n", median / 1000, t[1] / 1000, t[NR] / 1000, rss / 1024
    }'
}

# The before build and this one by turns, RUNS times each, on one compose file: their medians
# (ms), and the figure "wall time, before" next to this build's. Which goes first alternates
# (before, after, after, before, ...): on a busy machine, the second of two runs in a row was
# about 5 ms slower, the same build in both places.
side_by_side() {
  local n=$1 file=$2 before=() after=() i
  for ((i = 0; i < runs; i++)); do
    if ((i % 2 == 0)); then
      before+=("$(once "$SHIPCTL_BEFORE" plan -f "$file" --assume-state none --version 2.0.0)")
      after+=("$(once "$bin" plan -f "$file" --assume-state none --version 2.0.0)")
    else
      after+=("$(once "$bin" plan -f "$file" --assume-state none --version 2.0.0)")
      before+=("$(once "$SHIPCTL_BEFORE" plan -f "$file" --assume-state none --version 2.0.0)")
    fi
  done
  local mb ma
  mb=$(printf '%s\n' "${before[@]}" | sort -n | awk '{ t[NR] = $1 } END { printf "%.1f", t[int((NR + 1) / 2)] / 1000 }')
  ma=$(printf '%s\n' "${after[@]}" | sort -n | awk '{ t[NR] = $1 } END { printf "%.1f", t[int((NR + 1) / 2)] / 1000 }')
  figure "plan, $n services" "wall time, before (by turns)" ms \
    $(printf '%s\n' "${before[@]}" | awk '{ printf "%.3f\n", $1 / 1000 }')
  figure "plan, $n services" "wall time, after (by turns)" ms \
    $(printf '%s\n' "${after[@]}" | awk '{ printf "%.3f\n", $1 / 1000 }')
  printf '%-26s %7s ms before -> %s ms after (medians of %s runs by turns)\n' "" "$mb" "$ma" "$runs"
}

[[ -z ${SHIPCTL_BEFORE:-} || -x ${SHIPCTL_BEFORE:-} ]] || { echo "bench/plan.sh: SHIPCTL_BEFORE=$SHIPCTL_BEFORE is not an executable" >&2; exit 2; }
printf '%-26s %9s %9s %9s %10s %9s\n' "" "median" "min" "max" "peak RSS" "size"
declare -A median rss
for n in $sizes; do
  "$(dirname "$0")/gen-compose.sh" "$n" >"$work/compose-$n.yaml"
  read -r med min max mb < <(measure "$bin" plan -f "$work/compose-$n.yaml" --assume-state none --version 2.0.0)
  median[$n]=$med
  rss[$n]=$mb
  figure "plan, $n services" "wall time" ms $(cat "$work/times")
  figure "plan, $n services" "peak RSS" MB $(cat "$work/rss-all")
  printf '%-26s %7s ms %6s ms %6s ms %7s MB %6s KB\n' "plan, $n services" "$med" "$min" "$max" "$mb" \
    "$(($(wc -c <"$work/compose-$n.yaml") / 1024))"
  if [[ -n ${SHIPCTL_BEFORE:-} ]]; then
    side_by_side "$n" "$work/compose-$n.yaml"
  fi
  if command -v valgrind >/dev/null; then
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind" \
      "$bin" plan -f "$work/compose-$n.yaml" --assume-state none --version 2.0.0 >/dev/null 2>"$work/valgrind"
    instructions=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/valgrind")
    [[ -n $instructions ]] || { cat "$work/valgrind" >&2; echo "bench/plan.sh: callgrind counted nothing" >&2; exit 1; }
    millions=$(awk -v i="$instructions" 'BEGIN { printf "%.1f", i / 1e6 }')
    figure "plan, $n services" "instructions" millions "$millions"
    printf '%-26s %7s million instructions (callgrind)\n' "" "$millions"
  fi
done
command -v valgrind >/dev/null || echo "bench/plan.sh: no valgrind, so no instruction counts (apt-get install -y valgrind)"
read -r med min max mb < <(measure "$bin" --help)
figure "shipctl --help" "wall time" ms $(cat "$work/times")
figure "shipctl --help" "peak RSS" MB $(cat "$work/rss-all")
printf '%-26s %7s ms %6s ms %6s ms %7s MB\n' "shipctl --help" "$med" "$min" "$max" "$mb"
set -- $sizes
prev=$1
shift
for n in "$@"; do
  awk -v a="$prev" -v b="$n" -v ta="${median[$prev]}" -v tb="${median[$n]}" -v ra="${rss[$prev]}" -v rb="${rss[$n]}" \
    'BEGIN { printf "%s services take %.1f times as long as %s (%.1f when linear), %.1f times the memory\n", b, tb / ta, a, b / a, rb / ra }'
  figure "plan growth, $prev -> $n services" "wall time ratio" times \
    "$(awk -v ta="${median[$prev]}" -v tb="${median[$n]}" 'BEGIN { printf "%.2f", tb / ta }')"
  figure "plan growth, $prev -> $n services" "peak RSS ratio" times \
    "$(awk -v ra="${rss[$prev]}" -v rb="${rss[$n]}" 'BEGIN { printf "%.2f", rb / ra }')"
  prev=$n
done
