# Sourced by the benchmarks that deploy on the Swarm of scripts/test.

# The swarm:// keys are labels on the Swarm object, which the docker CLI cannot edit: remove
# those under $1 (and the record of their deletes) through the API, on the local socket only.
remove_keys() {
  local sock="${DOCKER_HOST:-unix:///var/run/docker.sock}" swarm spec
  if [[ "$sock" != unix://* ]]; then
    echo "keys under $1 left on the Swarm object (DOCKER_HOST is not a unix socket)" >&2
    return 0
  fi
  sock="${sock#unix://}"
  for _ in 1 2 3 4 5; do
    swarm="$(curl -sf --unix-socket "$sock" http://localhost/swarm)" || return 0
    spec="$(jq --arg p "$1" '.Spec
      | .Labels |= with_entries(select(.key | startswith("io.shipctl.kv." + $p) | not))
      | if .Labels["io.shipctl.kv-deleted"] then .Labels["io.shipctl.kv-deleted"] |=
          (fromjson | .keys |= with_entries(select(.key | startswith($p) | not)) | tojson)
        else . end' <<<"$swarm")"
    # Refused ("out of sequence") when someone else wrote in between: read again. The spec on
    # stdin: with many keys on the Swarm object it outgrows a command-line argument.
    curl -sf --unix-socket "$sock" -X POST -H 'Content-Type: application/json' --data-binary @- \
      "http://localhost/swarm/update?version=$(jq .Version.Index <<<"$swarm")" <<<"$spec" >/dev/null &&
      return 0
    sleep 0.2
  done
  echo "could not remove the keys under $1" >&2
}
