# Sourced by the benchmarks that deploy on the Swarm of scripts/test.

# Removes the overlay network $1 once it is free: it stays busy until the tasks of the services
# just removed are gone. Gives up after $2 half-second tries (default 120).
remove_network() {
  local tries=${2:-120}
  for _ in $(seq 1 "$tries"); do
    docker network rm "$1" >/dev/null 2>&1 && return 0
    docker network inspect "$1" >/dev/null 2>&1 || return 0
    sleep 0.5
  done
  echo "network $1 still in use; left in place" >&2
}
