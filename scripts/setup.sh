#!/bin/bash
# Installs what building and testing iogate needs, and nothing that is
# already there: Debian packages through apt-get (as root), then the npm test
# dependencies pinned by package-lock.json.  Not root and something missing:
# print the exact command and stop.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="gcc make pkg-config clang-format libev-dev libzmq3-dev libjansson-dev libfcgi-dev
      libwslay-dev libhttp-parser-dev libssl-dev libcmocka-dev uthash-dev libpcre2-dev
      libhiredis-dev libmsgpack-dev redis-server
      python3-zmq python3-venv python3-setuptools python3-wheel nginx chromium openssl curl"
# Extra packages a feature needs can be appended by the caller.
PKGS="$PKGS ${IOGATE_EXTRA_PKGS:-}"
# Bench-only: python-socketio on aiohttp, the server the Python rows of
# `make bench` (and their bench-smoke tests, so `make test`) compare with
# (bench/py_socketio.py).  Optional: installed with the rest when we are
# root; otherwise, or if apt cannot get them, only named, and those rows
# say "skipped: python3-socketio not installed".
BENCH_PKGS="python3-socketio python3-aiohttp"

missing=()
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
bench_missing=()
for p in $BENCH_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || bench_missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing packages; as root run:" >&2
        echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ${#bench_missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: optional bench packages missing (python-socketio bench rows are skipped); as root run:" >&2
        echo "  apt-get install -y ${bench_missing[*]}" >&2
    else
        echo "setup: installing ${bench_missing[*]} (bench only)" >&2
        export DEBIAN_FRONTEND=noninteractive
        { [ ${#missing[@]} -gt 0 ] || apt-get update -qq; } &&
            apt-get install -y -qq "${bench_missing[@]}" >/dev/null ||
            echo "setup: could not install ${bench_missing[*]}: the python-socketio bench rows will be skipped" >&2
    fi
fi

# npm test dependencies: reinstall only when the lock file changed.
stamp=node_modules/.iogate-lock
# A node_modules that is a symlink belongs to another checkout (a git
# worktree sharing the main one's): never reinstall through it.
if [ -L node_modules ]; then exit 0; fi
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    echo "setup: npm ci" >&2
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    cp package-lock.json "$stamp"
fi
