#!/bin/bash
# check_worker_layers.sh — the files of the C worker library (workers/c) call
# one another in one direction only: no two files call each other, directly
# or through others (worker_int.h lists the order).  Reads who defines and
# who calls each iog_ symbol from the built objects ($BUILD/obj/workers/c,
# BUILD defaults to build: run `make all` first), so it sees real calls,
# not text.  Prints each circle with the calls that make it and exits 1 if
# there is one.  tests/run.sh runs it (ONLY=unit).
set -uo pipefail
cd "$(dirname "$0")/.."
obj=${BUILD:-build}/obj/workers/c
shopt -s nullglob
objs=("$obj"/*.o)
if [ ${#objs[@]} -eq 0 ]; then echo "no objects in $obj: run make all first"; exit 1; fi
for o in workers/c/*.c; do
    [ -f "$obj/$(basename "${o%.c}").o" ] || { echo "$o: not built in $obj (make all)"; exit 1; }
done
declare -A def
for o in "${objs[@]}"; do
    f=$(basename "${o%.o}")
    while read -r sym; do def[$sym]=$f; done < <(nm -g --defined-only "$o" | awk '$3 ~ /^iog_/ {print $3}')
done
# Edges "caller callee" (one line each) with the symbols behind them.
declare -A why
edges=$(for o in "${objs[@]}"; do
    f=$(basename "${o%.o}")
    nm -u "$o" | awk '$2 ~ /^iog_/ {print $2}' | while read -r sym; do
        to=${def[$sym]:-}
        [ -n "$to" ] && [ "$to" != "$f" ] && echo "$f $to $sym"
    done
done)
while read -r a b sym; do
    [ -z "$a" ] && continue
    why["$a $b"]+="${why["$a $b"]:+, }$sym"
done <<<"$edges"
# A file is in a circle when it reaches itself; tsort reports the circles.
pairs=$(for k in "${!why[@]}"; do echo "$k"; done)
out=$( { echo "$pairs" | awk 'NF == 2 {print $2, $1}'; } | tsort 2>&1 >/dev/null)
if [ -z "$out" ]; then exit 0; fi
echo "workers/c: files that call each other (worker_int.h gives the order):"
loop=$(echo "$out" | grep -v 'input contains a loop' | sed 's/^tsort: //' | sort -u)
echo "  circle: $(echo $loop)"
for a in $loop; do for b in $loop; do
    [ -n "${why["$a $b"]:-}" ] && echo "  $a.c calls $b.c: ${why["$a $b"]}"
done; done
exit 1
