#!/usr/bin/env bash
# Builds the test app image shipctl-test-app:{1.0.0,1.1.0,2.0.0,3.0.0,unhealthy} offline, from
# scratch with a static busybox. Tags that already exist from the same sources are kept.
#
#   scripts/test-image/build.sh [--force]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image="shipctl-test-app"
versions=(1.0.0 1.1.0 2.0.0 3.0.0)
busybox="${BUSYBOX:-/bin/busybox}"
force=0
[[ "${1:-}" == "--force" ]] && force=1

if [[ ! -x "$busybox" ]]; then
  echo "build.sh: $busybox not found: install busybox-static (apt-get install -y busybox-static)" >&2
  exit 1
fi
# A dynamic busybox (package `busybox`) would not run in a scratch image.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build.sh: $busybox is dynamically linked: install busybox-static instead of busybox" >&2
  exit 1
fi

# The sources' hash is stored as a label, so that a change to the app rebuilds the tags.
hash="$(cat "$here/Dockerfile" "$here/app.sh" "$here/handler.sh" "$busybox" | sha256sum | cut -c1-16)"

current() { # tag -> 0 when the tag exists and was built from these sources
  local have
  have="$(docker image inspect --format '{{ index .Config.Labels "io.shipctl.test-app.hash" }}' \
    "$image:$1" 2>/dev/null || true)"
  [[ "$have" == "$hash" ]]
}

ctx=""
cleanup() { if [[ -n "$ctx" ]]; then rm -rf "$ctx"; fi; }
trap cleanup EXIT

build() { # tag version fail_health
  if [[ $force == 0 ]] && current "$1"; then
    echo "image $image:$1 is up to date"
    return
  fi
  if [[ -z "$ctx" ]]; then
    ctx="$(mktemp -d)"
    cp "$here/Dockerfile" "$here/app.sh" "$here/handler.sh" "$ctx/"
    cp "$busybox" "$ctx/busybox"
  fi
  echo "building $image:$1"
  # The legacy builder needs no BuildKit daemon and no registry; its deprecation notice is noise.
  if ! DOCKER_BUILDKIT=0 docker build -q \
    --build-arg "VERSION=$2" --build-arg "FAIL_HEALTH=$3" \
    --label "io.shipctl.test-app.hash=$hash" \
    -t "$image:$1" "$ctx" >"$ctx/build.log" 2>&1; then
    cat "$ctx/build.log" >&2
    echo "build.sh: building $image:$1 failed" >&2
    exit 1
  fi
}

for v in "${versions[@]}"; do
  build "$v" "$v" 0
done
build unhealthy unhealthy 1
