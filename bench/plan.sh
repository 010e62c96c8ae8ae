#!/usr/bin/env bash
# Measures `shipctl plan` on a generated compose file with many services: wall time (hyperfine)
# and peak RSS (/usr/bin/time). Also times `shipctl --help`.
#
#   bench/plan.sh [SERVICES]      (default 1000)
#
# Needs hyperfine and GNU time (apt-get install -y hyperfine time).
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$(dirname "$0")/gen-compose.sh" "$services" >"$work/compose.yaml"

cargo build --release --quiet
bin=target/release/shipctl
echo "compose file: $services services, $(wc -c <"$work/compose.yaml") bytes"

plan=("$bin" plan -f "$work/compose.yaml" --assume-state none --version 2.0.0)
"${plan[@]}" >/dev/null
hyperfine --warmup 3 --runs 20 -N --export-markdown "$work/plan.md" "${plan[*]}" "$bin --help"
cat "$work/plan.md"
for cmd in "${plan[*]}" "$bin --help"; do
  /usr/bin/time -f "peak RSS of \`${cmd#$bin }\`: %M KiB" $cmd >/dev/null
done
