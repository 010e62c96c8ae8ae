# A generated project of N services of the test app, for the benchmarks that measure how shipctl
# grows with the number of services (bench/release.sh, bench/api-rate.sh). Uses the globals
# `project` (its name), `services` (filled with the service names) and `work` (its directory).
# Needs bench/lib/network.sh and bench/lib/swarm-keys.sh.

# write_project SERVICES REPLICAS IMAGE HEALTH_INTERVAL: $work/compose.yaml (every service on
# the external network ${project}_net) and $work/shipctl.yaml (swarm:// store, rollback on
# failure).
write_project() {
  local n=$1 replicas=$2 image=$3 interval=$4
  services=()
  {
    echo "services:"
    for i in $(seq -f "%03g" 1 "$n"); do
      services+=("s$i")
      cat <<YAML
  s$i:
    image: $image
    stop_grace_period: 2s
    networks: [net]
    # The image's check with room for two cores that start hundreds of tasks at once: a probe
    # that times out there must not make Swarm replace a healthy task.
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: $interval
      timeout: 5s
      retries: 5
    deploy:
      replicas: $replicas
      endpoint_mode: dnsrr
YAML
    done
    cat <<YAML
networks:
  net:
    external: true
    name: ${project}_net
YAML
  } >"$work/compose.yaml"
  cat >"$work/shipctl.yaml" <<'YAML'
kv:
  url: swarm://
defaults:
  health:
    timeout: 5m
    # Hundreds of tasks starting on two cores: a service may wait minutes for its first task.
    progress_deadline: 4m
    min_healthy: 1s
  drain: 1s
  on_failure: rollback
YAML
}

# Removes the project's zones, its network and its keys.
remove_project() {
  [[ -n "$project" ]] || return 0
  local names=()
  for s in "${services[@]}"; do names+=("${project}_$s-blue" "${project}_$s-green"); done
  ((${#names[@]})) && docker service rm "${names[@]}" >/dev/null 2>&1 || true
  remove_network "${project}_net"
  remove_keys "$project/"
  project=""
}

# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
