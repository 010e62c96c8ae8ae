#!/bin/sh
# Entrypoint: serve HTTP on $PORT until SIGTERM.
#
# busybox httpd can only run scripts under /cgi-bin/ or with a file suffix, so it cannot answer
# /health with a 500 on demand; busybox nc forks this handler per connection instead.
set -e
APP_VERSION="$(cat /app/VERSION)"
APP_HOSTNAME="$(hostname)"
export APP_VERSION APP_HOSTNAME
echo "shipctl-test-app ${APP_VERSION} on ${APP_HOSTNAME}, port ${PORT}"
failing() { [ "$FAIL_HEALTH" = "1" ] || [ -e /tmp/fail-health ]; }
# PID 1 ignores SIGTERM without a handler: exit at once so that Swarm stops tasks quickly.
# A failing app exits like one killed by the signal (143): Swarm only reports the failed
# healthcheck as the task's error ("unhealthy container") when the exit code is not 0.
trap 'echo "stopping"; if failing; then exit 143; fi; exit 0' TERM INT
nc -ll -p "${PORT}" -e /app/handler.sh &
wait $!
