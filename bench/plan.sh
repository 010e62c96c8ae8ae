#!/usr/bin/env bash
# Measures `shipctl plan` (loading the compose file and planning) on generated compose files:
# wall time (hyperfine) and peak RSS (/usr/bin/time), and how the time grows: SERVICES against a
# quarter of it (about 4 times as long when the work is linear, 16 when quadratic). Also times
# `shipctl --help`.
#
#   bench/plan.sh [SERVICES]      (default 1000)
#
# Needs hyperfine and GNU time (apt-get install -y hyperfine time).
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-1000}
quarter=$((services / 4))
((quarter > 0)) || { echo "bench/plan.sh: SERVICES must be at least 4" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for n in "$services" "$quarter"; do
  "$(dirname "$0")/gen-compose.sh" "$n" >"$work/compose-$n.yaml"
done

cargo build --release --quiet
bin=target/release/shipctl
echo "compose files: $services services ($(wc -c <"$work/compose-$services.yaml") bytes) and $quarter"

plan() { echo "$bin plan -f $work/compose-$1.yaml --assume-state none --version 2.0.0"; }
# Once before measuring, so that a failing plan stops here with its error.
read -ra first <<<"$(plan "$services")"
"${first[@]}" >/dev/null
hyperfine --warmup 3 --runs 20 -N --export-markdown "$work/plan.md" --export-csv "$work/plan.csv" \
  -n "plan, $services services" "$(plan "$services")" \
  -n "plan, $quarter services" "$(plan "$quarter")" \
  -n "shipctl help" "$bin --help"
cat "$work/plan.md"
# The CSV's second column is the mean in seconds, rows in the order of the commands.
awk -F, -v big="$services" -v small="$quarter" 'NR == 2 { b = $2 } NR == 3 { s = $2 }
  END { printf "%s services take %.1f times as long as %s (4 when linear, 16 when quadratic)\n",
    big, b / s, small }' "$work/plan.csv"
for cmd in "$(plan "$services")" "$bin --help"; do
  read -ra argv <<<"$cmd"
  /usr/bin/time -f "peak RSS of \`${cmd#"$bin" }\`: %M KiB" "${argv[@]}" >/dev/null
done
