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

{
  echo "name: bench"
  echo "services:"
  for i in $(seq 1 "$services"); do
    cat <<YAML
  svc$i:
    image: registry.example.com:5000/team/svc$i:\${IMAGE_VERSION:-1.0.$i}
    command: ["serve", "--port", "8080"]
    environment:
      SERVICE_ID: "$i"
      LOG_LEVEL: info
    labels:
      team: platform
    networks: [backend]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost:8080/health"]
      interval: 5s
      timeout: 2s
      retries: 3
    deploy:
      replicas: 3
      endpoint_mode: dnsrr
      resources:
        limits: {cpus: "0.5", memory: 256M}
      update_config: {parallelism: 1, order: start-first}
YAML
  done
  echo "networks:"
  echo "  backend: {driver: overlay}"
} >"$work/compose.yaml"

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
