#!/bin/bash
# check_layers.sh — the gateway's folders are its layers, bottom up:
#   ipc, base  <  transport  <  engineio, workers, cluster  <  socketio  <  gateway/ (main, config)
# A file may include headers of its own folder and of lower layers only;
# folders on the same level (engineio, workers) do not include each other.
# Prints each violation as "file: includes header (folder)" and exits 1 if
# any.  tests/run.sh runs it (ONLY=unit).
set -uo pipefail
cd "$(dirname "$0")/.."
declare -A level=([ipc]=0 [base]=0 [transport]=1 [engineio]=2 [workers]=2 [cluster]=2 [socketio]=3 [top]=4)
declare -A home
for h in ipc/*.h gateway/*.h gateway/*/*.h; do
    [ -f "$h" ] || continue
    d=$(dirname "$h"); case $d in ipc) l=ipc ;; gateway) l=top ;; *) l=${d#gateway/} ;; esac
    home[$(basename "$h")]=$l
done
bad=0
for f in ipc/*.[ch] gateway/*.[ch] gateway/*/*.[ch]; do
    [ -f "$f" ] || continue
    d=$(dirname "$f"); case $d in ipc) me=ipc ;; gateway) me=top ;; *) me=${d#gateway/} ;; esac
    while read -r inc; do
        other=${home[$inc]:-}
        [ -z "$other" ] && continue            # system or library header
        [ "$other" = "$me" ] && continue
        if [ "${level[$other]}" -ge "${level[$me]}" ]; then
            echo "$f: includes $inc ($other, not below $me)"; bad=1
        fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
exit $bad
