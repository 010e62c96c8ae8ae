#!/usr/bin/env bash
# Builds the images of the test stack offline, on a Debian base made here with debootstrap:
#
#   local/debian:bookworm                     debootstrap --variant=minbase, imported; kept once made
#   shipctl-stack-redis:{7.0,7.0-b}           redis-server, data in /data (append-only file)
#   shipctl-stack-api:{1.0.0,1.1.0,2.0.0,3.0.0,unhealthy,errors,slow}   HTTP API on 8080 that
#                                             stores items in `redis` (also the zero-downtime
#                                             benchmark's app); `errors` answers 5 % with 500,
#                                             `slow` adds 300 ms, both pass their healthcheck
#   shipctl-stack-client:1.0.0                calls `api` every 50 ms, counts on 9090 (GET /stats)
#
#   scripts/stack-images/build.sh [--force]   --force rebuilds the tags, not the Debian base
#
# A tag is rebuilt only when its sources, its build arguments or the base image changed (their
# hash is a label of the image). The Debian mirror is the one apt uses on this machine (its
# sources lists), or DEBIAN_MIRROR. Delete local/debian:bookworm to make the base again.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# debootstrap lives in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
base="local/debian:bookworm"
suite="bookworm"
label="io.shipctl.stack.hash"
force=0
[[ "${1:-}" == "--force" ]] && force=1

die() { printf 'stack-images/build.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [[ $(id -u) == 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"
  fi
}

# The first http(s)/file URI of an enabled `deb` source for $suite, in the one-line format
# (*.list) or the deb822 one (*.sources); failing that, the first Debian archive (/debian) of any
# suite but -security, whose layout also serves $suite.
debian_mirror() {
  local files=()
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  local f
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  ((${#files[@]})) || return 1
  awk -v want="$suite" '
    function consider(uri, suites,   n, i, s) {
      if (uri !~ /^(https?|file):/) return
      n = split(suites, s, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        if (s[i] == want && exact == "") exact = uri
        if (s[i] != "" && s[i] !~ /-security$/ && uri ~ /\/debian\/?$/ && fallback == "") fallback = uri
      }
    }
    function flush(   n, u, i) {
      if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
        n = split(uris, u, /[ \t]+/)
        for (i = 1; i <= n; i++) consider(u[i], suites)
      }
      types = uris = suites = enabled = ""
    }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    /^[ \t]*#/ { next }
    deb822 && /^[ \t]*$/ { flush(); next }
    deb822 {
      field = tolower($1); sub(/:$/, "", field); value = $0; sub(/^[^:]*:[ \t]*/, "", value)
      if (field == "types") types = value
      else if (field == "uris") uris = value
      else if (field == "suites") suites = value
      else if (field == "enabled") enabled = tolower(value)
      next
    }
    $1 == "deb" {
      line = $0; sub(/\[[^]]*\]/, "", line); split(line, w, /[ \t]+/)
      # w[1] may be empty when the line starts with blanks.
      i = (w[1] == "") ? 2 : 1
      consider(w[i + 1], w[i + 2])
    }
    END { flush(); if (exact != "") print exact; else if (fallback != "") print fallback; else exit 1 }
  ' "${files[@]}"
}

# Files to remove on exit: the build log, and a debootstrap tree (after unmounting anything a
# failed debootstrap left mounted in it, so that rm cannot reach the host's /proc or /sys).
rootfs=""
tmp="$(mktemp -d)"
cleanup() {
  if [[ -n "$rootfs" && -d "$rootfs" ]]; then
    local m
    for m in $(awk -v r="$rootfs/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
      as_root umount -l "$m" || true
    done
    as_root rm -rf --one-file-system "$rootfs"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

make_base() {
  if docker image inspect "$base" >/dev/null 2>&1; then
    echo "image $base is present"
    return
  fi
  command -v debootstrap >/dev/null ||
    die "debootstrap not found: install it (apt-get install -y debootstrap) or run scripts/prepare"
  local mirror="${DEBIAN_MIRROR:-}"
  if [[ -z "$mirror" ]]; then
    mirror="$(debian_mirror)" ||
      die "no Debian mirror for $suite in /etc/apt/sources.list{,.d/}: set DEBIAN_MIRROR=URI"
  fi
  echo "making $base with debootstrap from $mirror (about a minute)"
  rootfs="$(mktemp -d /tmp/stack-rootfs.XXXXXX)"
  local started=$SECONDS
  if ! as_root debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 40 "$tmp/debootstrap.log" >&2
    die "debootstrap failed (its log is above)"
  fi
  # Downloaded packages are of no use in the image.
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # An imported image has no PATH nor CMD of its own.
  as_root tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$base" >/dev/null
  echo "made $base in $((SECONDS - started)) s"
}

make_base
base_id="$(docker image inspect --format '{{.Id}}' "$base")"

build() { # image dir tag build-args...
  local image="$1" dir="$here/$2" tag="$3"
  shift 3
  # Sources, build arguments and base image: any change makes a new hash.
  local hash have
  hash="$({
    printf '%s\n' "$base_id" "$@"
    (cd "$dir" && find . -type f -not -path "*/__pycache__/*" -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-16)"
  have="$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image:$tag" 2>/dev/null || true)"
  if [[ $force == 0 && "$have" == "$hash" ]]; then
    echo "image $image:$tag is up to date"
    return
  fi
  echo "building $image:$tag"
  local args=() a
  for a in "$@"; do args+=(--build-arg "$a"); done
  # The legacy builder needs no BuildKit daemon and no registry; its deprecation notice is noise.
  if ! DOCKER_BUILDKIT=0 docker build -q "${args[@]}" --label "$label=$hash" \
    -t "$image:$tag" "$dir" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    die "building $image:$tag failed"
  fi
}

build shipctl-stack-redis redis 7.0 VERSION=7.0
build shipctl-stack-redis redis 7.0-b VERSION=7.0-b
for v in 1.0.0 1.1.0 2.0.0 3.0.0; do
  build shipctl-stack-api api "$v" VERSION="$v" FAIL_HEALTH=0
done
build shipctl-stack-api api unhealthy VERSION=unhealthy FAIL_HEALTH=1
# Healthy by their healthcheck, bad by their traffic: what canary analysis must catch.
build shipctl-stack-api api errors VERSION=errors FAIL_HEALTH=0 ERROR_RATE=0.05
build shipctl-stack-api api slow VERSION=slow FAIL_HEALTH=0 EXTRA_LATENCY_MS=300
build shipctl-stack-client client 1.0.0 VERSION=1.0.0
