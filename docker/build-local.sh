#!/usr/bin/env bash
# Builds the shipctl and router images offline from a binary built here and a local Debian base
# (scripts/prepare makes local/debian:bookworm), with the legacy builder (no registry needed):
#
#   docker/build-local.sh BINARY [SHIPCTL_TAG [ROUTER_TAG]]
#   docker/build-local.sh target/release/shipctl shipctl:dev shipctl-router:dev
#
# Defaults: shipctl:local and shipctl-router:local. BASE=IMAGE picks another Debian base.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="${1:?usage: docker/build-local.sh BINARY [SHIPCTL_TAG [ROUTER_TAG]]}"
shipctl_tag="${2:-shipctl:local}"
router_tag="${3:-shipctl-router:local}"
base="${BASE:-local/debian:bookworm}"

[[ -x "$binary" ]] || { echo "build-local.sh: $binary is not an executable" >&2; exit 1; }
docker image inspect "$base" >/dev/null 2>&1 ||
  { echo "build-local.sh: no image $base (scripts/prepare makes it)" >&2; exit 1; }

# The context holds the binary alone: nothing else is sent to the engine.
context="$(mktemp -d)"
log="$(mktemp)"
trap 'rm -rf "$context" "$log"' EXIT
cp "$binary" "$context/shipctl"
chmod 0755 "$context/shipctl"

for pair in "shipctl.Dockerfile=$shipctl_tag" "router.Dockerfile=$router_tag"; do
  file="${pair%%=*}" tag="${pair#*=}"
  DOCKER_BUILDKIT=0 docker build -q --target local --build-arg "BASE=$base" \
    -f "$here/$file" -t "$tag" "$context" >"$log" 2>&1 ||
    { cat "$log" >&2; echo "build-local.sh: building $tag failed" >&2; exit 1; }
  echo "built $tag"
done
