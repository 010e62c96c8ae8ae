#!/usr/bin/env bash
# Prints a compose file with N services (default 1000), each with the fields real services use.
#
#   bench/gen-compose.sh 1000 > compose.yaml
set -euo pipefail
services=${1:-1000}
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
}
