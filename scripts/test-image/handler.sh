#!/bin/sh
# One HTTP request on stdin/stdout (forked by `nc -ll -e`).
#   GET /health   200 "ok", or 500 when FAIL_HEALTH=1 or the file /tmp/fail-health exists
#   GET /version  the baked version
#   GET /         version and hostname
#   GET /sleep/N  answers after N seconds (fractions allowed): an in-flight request for drain tests
read -r method path _ || exit 0
cr="$(printf '\r')"
# Drain the headers up to the blank line (lines end with CR).
while read -r line; do
  line="${line%"$cr"}"
  [ -z "$line" ] && break
done
status="200 OK"
case "$path" in
  /health | /health\?*)
    if [ "$FAIL_HEALTH" = "1" ] || [ -e /tmp/fail-health ]; then
      status="500 Internal Server Error"; body="failing"
    else
      body="ok"
    fi ;;
  /version | /version\?*) body="$APP_VERSION" ;;
  / | /\?*) body="shipctl-test-app version=$APP_VERSION host=$APP_HOSTNAME" ;;
  /sleep/*)
    seconds="${path#/sleep/}"
    case "$seconds" in
      "" | *[!0-9.]*) status="400 Bad Request"; body="usage: /sleep/SECONDS" ;;
      *) sleep "$seconds"; body="slept $seconds on $APP_HOSTNAME" ;;
    esac ;;
  *) status="404 Not Found"; body="not found: $path" ;;
esac
[ "$method" = "HEAD" ] && head_only=1
printf 'HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nX-App-Version: %s\r\nConnection: close\r\n\r\n' \
  "$status" "$(( ${#body} + 1 ))" "$APP_VERSION"
[ -z "$head_only" ] && printf '%s\n' "$body"
exit 0
