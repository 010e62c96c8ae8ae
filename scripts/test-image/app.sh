#!/bin/sh
# Entrypoint: serve HTTP on $PORT until SIGTERM.
#
# busybox httpd can only run scripts under /cgi-bin/ or with a file suffix, so it cannot answer
# /health with a 500 on demand; busybox nc forks this handler per connection instead.
set -e
export APP_VERSION="$(cat /app/VERSION)"
export APP_HOSTNAME="${HOSTNAME:-$(hostname)}"
echo "shipctl-test-app ${APP_VERSION} on ${APP_HOSTNAME}, port ${PORT}"
# PID 1 ignores SIGTERM without a handler: exit at once so that Swarm stops tasks quickly.
trap 'echo "stopping"; exit 0' TERM INT
nc -ll -p "${PORT}" -e /app/handler.sh &
wait $!
