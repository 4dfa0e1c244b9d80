#!/usr/bin/env bash
# Make sure a redis-server binary exists for the tests (they start their own private server).
# Exit 0 when one is on PATH; as root with apt-get, install Debian's package and keep the
# packaged service from running; otherwise say how to install it and exit 1.
set -euo pipefail

if [ -n "${REDIS_SERVER_BIN:-}" ] && [ -x "$REDIS_SERVER_BIN" ]; then
    echo "redis-server from REDIS_SERVER_BIN: $REDIS_SERVER_BIN"
    exit 0
fi

if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server found: $(command -v redis-server) ($(redis-server --version | head -n1))"
    exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server with apt-get"
    # policy-rc.d exit 101 tells the package scripts not to start the service now.
    policy=/usr/sbin/policy-rc.d
    had_policy=0
    if [ -e "$policy" ]; then had_policy=1; fi
    if [ "$had_policy" -eq 0 ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server
    # Tests run their own servers; a packaged one on 6379 would only be in the way.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
    if command -v service >/dev/null 2>&1; then
        service redis-server stop >/dev/null 2>&1 || true
    fi
    command -v redis-server >/dev/null 2>&1 || { echo "redis-server still missing" >&2; exit 1; }
    echo "installed $(redis-server --version | head -n1)"
    exit 0
fi

cat >&2 <<'MSG'
redis-server is not installed and cannot be installed automatically here.
Install it, then run the tests again:
  Debian/Ubuntu:  sudo apt-get install redis-server   (then: sudo systemctl disable --now redis-server)
  macOS:          brew install redis
  Other:          https://redis.io/docs/latest/operate/oss_and_stack/install/
or set REDIS_SERVER_BIN to the path of a redis-server binary.
MSG
exit 1
