#!/usr/bin/env bash
# bench/profile.sh — instructions per echo round trip, for the gateway and
# for the bench worker separately, counted by valgrind's callgrind: a count
# of executed instructions is repeatable on a loaded or shared machine,
# where CPU time is not (see bench/README.md, "Profile").
#
#   bash bench/profile.sh [SIZE…]        (default: 32 1024)
#   BUILD=build RATE=400 SHORT=3 LONG=53 CLIENTS=10 bash bench/profile.sh 32
#
# Both processes run under callgrind: the gateway directly, the worker
# through its --worker command.  iogate-bench drives echo at a fixed rate
# (every client emits "echo" with a SIZE-byte string, the worker emits it
# back) in two runs, SHORT and LONG seconds; callgrind_control dumps the
# counters after each run, and the difference between the two dumps,
# divided by the extra round trips (RATE × (LONG − SHORT), 20,000 by
# default, as iogate-bench counted them), is the cost of
# one round trip: connects, warm-up and idle time cancel out.  RATE must be
# low enough for valgrind (~50× slower) to keep up: the script stops if
# iogate-bench reports fewer round trips than it offered.
# Not part of `make test` or `make bench`: it takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RATE=${RATE:-400}
SHORT=${SHORT:-3}
LONG=${LONG:-53}
CLIENTS=${CLIENTS:-10}
SIZES=("${@:-32 1024}")
[ $# -eq 0 ] && SIZES=(32 1024)
command -v valgrind >/dev/null || { echo "profile.sh: valgrind is needed" >&2; exit 1; }

OUT=$(mktemp -d /tmp/iogate-profile.XXXXXX)
GW_PID=""
cleanup() {
    [ -n "$GW_PID" ] && kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
    true
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Total Ir of the newest dump of a callgrind output prefix.
last_ir() {
    local f
    f=$(ls -t "$1".* 2>/dev/null | head -1)
    awk '/^(summary|totals):/ {print $2; exit}' "$f"
}

dump() { # pid prefix → prints the Ir since the previous dump
    local before after
    before=$(ls "$2".* 2>/dev/null | wc -l)
    callgrind_control -d "$1" >/dev/null 2>&1
    for _ in $(seq 100); do
        after=$(ls "$2".* 2>/dev/null | wc -l)
        [ "$after" -gt "$before" ] && break
        sleep 0.1
    done
    sleep 0.3 # the file is complete once its totals line is written
    last_ir "$2"
}

run_bench() { # size seconds
    "$BUILD/iogate-bench" -q -u "127.0.0.1:$PORT" fixed-rate -r "$RATE" -c "$CLIENTS" -s "$1" \
        -d "$2" -W 1 --setup-timeout 60 -j "$OUT/bench.json" >"$OUT/bench.txt" 2>&1
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r.get("ops","?"), end="")' \
        "$OUT/bench.json" 2>/dev/null || echo -n "?"
}

printf '%-6s %-10s %16s %16s %10s\n' size process "Ir/round trip" "Ir total(extra)" "trips"
for size in "${SIZES[@]}"; do
    PORT=$(free_port)
    rm -f "$OUT"/gw.* "$OUT"/wk.*
    valgrind -q --tool=callgrind --callgrind-out-file="$OUT/gw.%p" \
        "$BUILD/iogate" --listen "127.0.0.1:$PORT" --log-level error \
        --worker "/=valgrind -q --tool=callgrind --callgrind-out-file=$OUT/wk.%p $BUILD/examples/bench" \
        >"$OUT/server.log" 2>&1 &
    GW_PID=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    WK_PID=""
    for _ in $(seq 100); do
        WK_PID=$(pgrep -P "$GW_PID" | head -1 || true)
        [ -n "$WK_PID" ] && break
        sleep 0.1
    done
    [ -n "$WK_PID" ] || { echo "profile.sh: no worker process" >&2; exit 1; }
    sleep 3 # the worker under valgrind says HELLO
    # First connects and valgrind's translation of every code path (slow at
    # first: the earliest replies may come late): not counted.
    run_bench "$size" 3 >/dev/null || true
    dump "$GW_PID" "$OUT/gw" >/dev/null
    dump "$WK_PID" "$OUT/wk" >/dev/null
    n1=$(run_bench "$size" "$SHORT")
    g1=$(dump "$GW_PID" "$OUT/gw")
    w1=$(dump "$WK_PID" "$OUT/wk")
    n2=$(run_bench "$size" "$LONG")
    g2=$(dump "$GW_PID" "$OUT/gw")
    w2=$(dump "$WK_PID" "$OUT/wk")
    # the round trips iogate-bench measured (the warm-up second is the same
    # in both runs); the offered RATE × (LONG − SHORT) if it did not say
    if [[ "$n1" =~ ^[0-9]+$ && "$n2" =~ ^[0-9]+$ ]]; then
        extra=$((n2 - n1))
        [ $((extra * 100)) -ge $((RATE * (LONG - SHORT) * 95)) ] ||
            { echo "profile.sh: valgrind did not keep up ($n1/$n2 round trips): lower RATE" >&2; exit 1; }
    else
        extra=$((RATE * (LONG - SHORT)))
    fi
    printf '%-6s %-10s %16d %16d %10s\n' "$size" gateway $(((g2 - g1) / extra)) $((g2 - g1)) "$n1/$n2"
    printf '%-6s %-10s %16d %16d %10s\n' "$size" worker $(((w2 - w1) / extra)) $((w2 - w1)) "$n1/$n2"
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
    GW_PID=""
    cp "$OUT/bench.txt" "$OUT/bench-$size.txt"
done
echo "callgrind files and iogate-bench output: $OUT"
