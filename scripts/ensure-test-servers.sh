#!/usr/bin/env bash
# Make sure the server binaries the tests start are installed: redis-server (each test session
# starts its own private server), nginx (deploy/nginx.conf in front of a real service) and
# Debian's chromium (the page's tests drive it with Playwright; no browser build is downloaded).
# Exit 0 when all are there; as root with apt-get, install Debian's packages and keep their
# packaged services from running; otherwise say how to install them and exit 1.
set -euo pipefail

have_redis() {
    if [ -n "${REDIS_SERVER_BIN:-}" ] && [ -x "$REDIS_SERVER_BIN" ]; then return 0; fi
    command -v redis-server >/dev/null 2>&1
}
have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
have_chromium() {
    if [ -n "${CHROMIUM_BIN:-}" ] && [ -x "$CHROMIUM_BIN" ]; then return 0; fi
    command -v chromium >/dev/null 2>&1
}

missing=()
have_redis || missing+=(redis-server)
have_nginx || missing+=(nginx)
have_chromium || missing+=(chromium)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "test servers found: redis-server, nginx, chromium"
    exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with apt-get"
    # policy-rc.d exit 101 tells the package scripts not to start the services now.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    # Tests run their own servers; packaged ones (redis on 6379, nginx on 80) would only be in
    # the way.
    for service in "${missing[@]}"; do
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            systemctl disable --now "$service" >/dev/null 2>&1 || true
        fi
        if command -v service >/dev/null 2>&1; then
            service "$service" stop >/dev/null 2>&1 || true
        fi
    done
    have_redis || { echo "redis-server still missing" >&2; exit 1; }
    have_nginx || { echo "nginx still missing" >&2; exit 1; }
    have_chromium || { echo "chromium still missing" >&2; exit 1; }
    echo "installed ${missing[*]}"
    exit 0
fi

cat >&2 <<MSG
Missing for the tests: ${missing[*]}. Install, then run the tests again:
  Debian/Ubuntu:  sudo apt-get install redis-server nginx chromium
                  (then: sudo systemctl disable --now redis-server nginx)
  macOS:          brew install redis nginx; brew install --cask chromium
or set REDIS_SERVER_BIN to the path of a redis-server binary, CHROMIUM_BIN to a Chromium's.
MSG
exit 1
