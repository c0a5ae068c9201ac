#!/bin/bash
# Installs what building and testing iogate needs, and nothing that is
# already there: Debian packages through apt-get (as root), then the npm test
# dependencies pinned by package-lock.json.  Not root and something missing:
# print the exact command and stop.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="gcc make pkg-config libev-dev libzmq3-dev libjansson-dev libfcgi-dev
      libwslay-dev libhttp-parser-dev libssl-dev libcmocka-dev uthash-dev libpcre2-dev
      python3-zmq python3-venv python3-setuptools python3-wheel nginx chromium"
# Extra packages a feature needs can be appended by the caller.
PKGS="$PKGS ${IOGATE_EXTRA_PKGS:-}"

missing=()
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

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
