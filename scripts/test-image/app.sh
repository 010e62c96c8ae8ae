#!/bin/sh
# Entrypoint: serve HTTP on $PORT until SIGTERM (see handler.sh for the routes).
#   FAIL_HEALTH=1 / file /tmp/fail-health   /health answers 500
#   START_DELAY=N                           wait N seconds before listening
#
# busybox httpd can only run scripts under /cgi-bin/ or with a file suffix, so it cannot answer
# /health with a 500 on demand; busybox nc forks this handler per connection instead.
set -e
APP_VERSION="$(cat /app/VERSION)"
APP_HOSTNAME="$(hostname)"
export APP_VERSION APP_HOSTNAME
echo "shipctl-test-app ${APP_VERSION} on ${APP_HOSTNAME}, port ${PORT}"
failing() { [ "$FAIL_HEALTH" = "1" ] || [ -e /tmp/fail-health ]; }
# shellcheck disable=SC2009 # Debian's static busybox has no pgrep.
in_flight() { ps | grep -v grep | grep -q /app/handler.sh; }
# On SIGTERM (PID 1 ignores it without a handler), stop accepting, let the requests in flight
# finish, then exit: a well-behaved app that drains. A failing app exits like one killed by the
# signal (143): Swarm only reports the failed healthcheck as the task's error ("unhealthy
# container") when the exit code is not 0.
listener=""
stop() {
  echo "stopping"
  [ -n "$listener" ] && kill "$listener" 2>/dev/null
  while in_flight; do sleep 0.1; done
  if failing; then exit 143; fi
  exit 0
}
trap stop TERM INT
# START_DELAY (seconds): a slow boot, to keep tasks in `starting` for a while.
if [ -n "${START_DELAY:-}" ]; then sleep "$START_DELAY" & wait $!; fi
# busybox nc listens with a backlog of one connection per -l: 64 of them, so that a burst on a
# busy machine waits in the queue instead of being dropped (a dropped SYN costs a 1 s retry).
nc -$(printf 'l%.0s' $(seq 64)) -p "${PORT}" -e /app/handler.sh &
listener=$!
wait "$listener"
