#!/bin/bash
# run.sh — `make bench` and `make bench-smoke`: the same scenarios of
# build/iogate-bench against
#   iogate  build/iogate --worker "/=build/examples/bench"  (gateway + worker)
#   echo    build/iogate --echo  (transport baseline: Engine.IO messages
#           echoed on the session, no Socket.IO layer, no worker)
#   node    bench/reference.js  (socket.io 4.8, identical handlers)
#   pyiogate    build/iogate --worker "/=python3 bench/py_iogate.py" (gateway
#               + the workers/python echo worker), against
#   pysocketio  python3 bench/py_socketio.py (python-socketio 5 on aiohttp,
#               Debian's python3-socketio; skipped, visibly, when missing):
#               the Python rows, the same echo handler in both
#   zmq     no server: build/iogate-zmq-floor, ZeroMQ alone (a ROUTER and a
#           DEALER process ping-pong a message), the floor rows
# Servers are pinned to CPU 0 and the load generator to CPU 1 (taskset);
# each run gets a freshly started server.  The server's CPU time and memory
# are read from /proc for the server and all its children.
#
#   bench/run.sh            REPEAT runs (3) of every scenario; tables of
#                           medians [ranges] with ratios to node (Python
#                           rows: to python-socketio), written also to
#                           bench/results/latest.json (< 15 min)
#   bench/run.sh --smoke    seconds: tiny loads against iogate, node, the
#                           floor and both Python servers (one server start
#                           each); every scenario is one test, failed when
#                           no traffic got through against any server, a
#                           "skip" line for a server that cannot run here;
#                           closing line "N passed, N failed", non-zero on
#                           failure
# Environment: BUILD (build), REPEAT (3), SERVERS ("iogate echo node zmq
# pyiogate pysocketio"), SCENARIOS (regex on scenario names), PORT (a free
# one), PY (/usr/bin/python3), KEEP=1 keeps raw runs.
# Scenarios named *-tls run over TLS: the server is started with a
# throw-away certificate (iogate --tls-cert/--tls-key, reference.js
# BENCH_TLS_CERT/KEY) and the tool is pointed at https://.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
# A free port, asked of the kernel (a fixed one collides with whatever else
# runs on the machine).
PORT=${PORT:-$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
TOOL="$BUILD/iogate-bench"
FLOOR="$BUILD/iogate-zmq-floor"
# The Python rows run Debian's interpreter: python3-zmq and python3-socketio
# are installed for it, whatever python3 comes first in PATH.
PY=${PY:-/usr/bin/python3}
RAW=$(mktemp -d /tmp/iogate-bench.XXXXXX)
trap 'stop_server; [ -n "${KEEP:-}" ] || rm -rf "$RAW"' EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then PIN_SRV="taskset -c 0"; PIN_CLI="taskset -c 1"; else PIN_SRV=""; PIN_CLI=""; fi
# The floor's two processes are "the servers": the tool pins them itself.
PIN_FLOOR=""; [ "$NCPU" -ge 2 ] && PIN_FLOOR="-C 0"

for f in "$TOOL" "$FLOOR" "$BUILD/iogate" "$BUILD/examples/bench"; do
    [ -x "$f" ] || { echo "bench: $f missing (make all)" >&2; exit 1; }
done
[ -d node_modules/socket.io ] || { echo "bench: node_modules/socket.io missing (make setup)" >&2; exit 1; }
# python-socketio is a bench-only package (scripts/setup.sh installs it when
# run as root; INSTALL): without it its runs are skipped, and say so.
PYSIO_MISSING=""
"$PY" -c 'import socketio, aiohttp' 2>/dev/null || PYSIO_MISSING="python3-socketio not installed"
"$PY" -c 'import zmq' 2>/dev/null || { echo "bench: python3-zmq missing (make setup)" >&2; exit 1; }

if [ $SMOKE = 0 ]; then
    echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) before starting (other processes skew the figures)" >&2
fi

# ---------------------------------------------------------------- servers
SRV_PID=""
CERT="$RAW/tls.crt" KEY="$RAW/tls.key"
start_server() { # name [tls]
    local tls=() nodetls=()
    if [ "${2:-}" = tls ]; then
        [ -f "$CERT" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$KEY" -out "$CERT" -days 2 -subj /CN=localhost \
            -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
        tls=(--tls-cert "$CERT" --tls-key "$KEY")
        nodetls=(BENCH_TLS_CERT="$CERT" BENCH_TLS_KEY="$KEY")
    fi
    case "$1" in
    iogate) $PIN_SRV "$BUILD/iogate" --listen "127.0.0.1:$PORT" --log-level error "${tls[@]}" \
                --worker "/=$BUILD/examples/bench" >"$RAW/server.log" 2>&1 & ;;
    echo)   $PIN_SRV "$BUILD/iogate" --listen "127.0.0.1:$PORT" --log-level error --echo "${tls[@]}" \
                >"$RAW/server.log" 2>&1 & ;;
    node)   env "${nodetls[@]}" $PIN_SRV node bench/reference.js "$PORT" >"$RAW/server.log" 2>&1 & ;;
    pyiogate) $PIN_SRV "$BUILD/iogate" --listen "127.0.0.1:$PORT" --log-level error \
                --worker "/=$PY bench/py_iogate.py" >"$RAW/server.log" 2>&1 & ;;
    pysocketio) $PIN_SRV "$PY" bench/py_socketio.py "$PORT" >"$RAW/server.log" 2>&1 & ;;
    zmq)    SRV_PID=""; return 0 ;; # the floor tool is its own pair of servers
    esac
    SRV_PID=$!
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            # a gateway with workers: give the worker time to say HELLO
            [ "$1" = iogate ] && sleep 0.3
            # a Python worker takes longer to start: one namespace connect
            # through it proves it is there
            [ "$1" = pyiogate ] && { ready_probe || break; }
            return 0
        fi
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "bench: server $1 did not start:" >&2
    tail -5 "$RAW/server.log" >&2
    return 1
}
ready_probe() {
    for _ in $(seq 20); do
        "$TOOL" -q -u "127.0.0.1:$PORT" connect -k 1 -d 0.05 -W 0 --setup-timeout 2 --max-time 4 \
            >/dev/null 2>&1 && return 0
        kill -0 "$SRV_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
stop_server() {
    [ -n "$SRV_PID" ] || return 0
    kill -TERM "$SRV_PID" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=""
}

# ---------------------------------------------------------------- scenarios
# name | servers it applies to | iogate-bench arguments
if [ $SMOKE = 1 ]; then
    REPEAT=1
    SERVERS=${SERVERS:-"iogate node zmq pyiogate pysocketio"}
    T="-d 0.3 -W 0.1 --setup-timeout 5"
    SCEN=(
        "echo|iogate echo node|echo -c 4 -w 2 $T"
        "echo-ack|iogate node|echo -c 4 -w 2 -a $T"
        "echo-tls|iogate echo node|echo -c 4 -w 2 $T"
        "broadcast|iogate node|broadcast -c 8 -w 2 $T"
        "connect-ws|iogate echo node|connect -k 4 $T"
        "connect-polling|iogate echo node|connect -k 4 -t polling $T"
        "idle|iogate echo node|idle -c 50 -d 0.2 --setup-timeout 5"
        "fixed-rate|iogate echo node|fixed-rate -r 500 -c 4 $T"
        "zmq-floor|zmq|fixed-rate -r 500 $T"
        "zmq-floor-sat|zmq|saturated -w 8 $T"
        # Python servers on a loaded machine answer slowly: a longer window
        "py-echo|pyiogate pysocketio|echo -c 4 -w 2 -d 0.6 -W 0.2 --setup-timeout 5"
        "py-fixed-rate|pyiogate pysocketio|fixed-rate -r 100 -c 4 -d 0.6 -W 0.2 --setup-timeout 5"
    )
else
    REPEAT=${REPEAT:-3}
    SERVERS=${SERVERS:-"iogate echo node zmq pyiogate pysocketio"}
    T="-d ${DURATION:-4} -W 1"
    SRC="-b 127.0.0.1-127.0.0.8"
    SCEN=(
        "echo|iogate echo node|echo -c 50 -w 8 -s 32 $T"
        "echo-ack|iogate node|echo -c 50 -w 8 -s 32 -a $T"
        "echo-1k|iogate echo node|echo -c 50 -w 8 -s 1024 $T"
        "echo-tls|iogate echo node|echo -c 50 -w 8 -s 32 $T"
        "broadcast|iogate node|broadcast -c 200 -w 4 -s 32 $T"
        "connect-ws|iogate echo node|connect -k 64 $SRC $T"
        "connect-polling|iogate echo node|connect -k 64 -t polling $SRC $T"
        "idle|iogate echo node|idle -c 15000 -k 256 -d 3 $SRC --setup-timeout 60"
        "fixed-rate|iogate echo node|fixed-rate -r 20000 -c 50 $T"
        "zmq-floor|zmq|fixed-rate -r 20000 -s 100 $T"
        "zmq-floor-sat|zmq|saturated -w 400 -s 100 $T"
        "py-echo|pyiogate pysocketio|echo -c 50 -w 8 -s 32 $T"
        "py-fixed-rate|pyiogate pysocketio|fixed-rate -r 3000 -c 50 $T"
    )
fi

# One run of the tool; the server must be up.  Sets rc.
is_tls() { [[ "$1" == *-tls ]]; }
run_tool() { # name srv rep args
    local out="$RAW/$1.$2.$3.json" scheme=""
    is_tls "$1" && scheme=https://
    # shellcheck disable=SC2086
    if [ "$2" = zmq ]; then
        $PIN_CLI "$FLOOR" -q $PIN_FLOOR -l "$1/$2" --json "$out" $4 >"$RAW/$1.$2.$3.txt" 2>&1
    else
        $PIN_CLI "$TOOL" -q -u "${scheme}127.0.0.1:$PORT" -p "$SRV_PID" -l "$1/$2" --json "$out" $4 \
            >"$RAW/$1.$2.$3.txt" 2>&1
    fi
    rc=$?
    if [ $SMOKE = 1 ] || [ $rc -ne 0 ]; then
        local ops st=ok
        [ $rc -eq 0 ] || st=FAIL
        ops=$(grep -oE '"ops": [0-9]+' "$out" 2>/dev/null | grep -oE '[0-9]+')
        printf '%-4s bench: %-16s %-7s ops %s\n' "$st" "$1" "$2" "${ops:-0}"
        [ $rc -eq 0 ] || sed 's/^/     | /' "$RAW/$1.$2.$3.txt" | tail -12
    else
        printf '.' >&2
    fi
}

declare -A failed_scen=() ran_scen=()
names=()
# A server this machine cannot run: its runs are skipped, and said so.
unavailable() { # srv
    [ "$1" = pysocketio ] && [ -n "$PYSIO_MISSING" ]
}
skip_line() { # name srv
    printf 'skip bench: %-16s %-7s skipped: %s\n' "$1" "$2" "$PYSIO_MISSING"
}
selected() { [[ "$1" =~ ${SCENARIOS:-.} ]]; }
for entry in "${SCEN[@]}"; do
    IFS='|' read -r name _ _ <<<"$entry"
    selected "$name" && names+=("$name")
done

if [ $SMOKE = 1 ]; then
    # Smoke: one server start per server (and one more for the TLS
    # scenarios), every scenario against it.
    for srv in $SERVERS; do
        if unavailable "$srv"; then
            for entry in "${SCEN[@]}"; do
                IFS='|' read -r name applies _ <<<"$entry"
                selected "$name" && [[ " $applies " == *" $srv "* ]] && skip_line "$name" "$srv"
            done
            continue
        fi
      for mode in plain tls; do
        todo=0
        for entry in "${SCEN[@]}"; do
            IFS='|' read -r name applies _ <<<"$entry"
            selected "$name" && [[ " $applies " == *" $srv "* ]] || continue
            if is_tls "$name"; then [ $mode = tls ] && todo=1; else [ $mode = plain ] && todo=1; fi
        done
        [ $todo = 1 ] || continue
        up=0; start_server "$srv" "$mode" && up=1
        for entry in "${SCEN[@]}"; do
            IFS='|' read -r name applies args <<<"$entry"
            selected "$name" && [[ " $applies " == *" $srv "* ]] || continue
            if is_tls "$name"; then [ $mode = tls ] || continue; else [ $mode = plain ] || continue; fi
            ran_scen[$name]=1
            if [ $up = 1 ] && { [ "$srv" = zmq ] || kill -0 "$SRV_PID" 2>/dev/null; }; then
                run_tool "$name" "$srv" 1 "$args"
            else
                rc=1; printf 'FAIL bench: %-16s %-7s server not running\n' "$name" "$srv"
            fi
            [ $rc -eq 0 ] || failed_scen[$name]=1
        done
        stop_server
      done
    done
else
    # Full: a fresh server for every run (memory baselines, no leftovers).
    for entry in "${SCEN[@]}"; do
        IFS='|' read -r name applies args <<<"$entry"
        selected "$name" || continue
        for srv in $SERVERS; do
            [[ " $applies " == *" $srv "* ]] || continue
            if unavailable "$srv"; then skip_line "$name" "$srv" >&2; continue; fi
            ran_scen[$name]=1
            for rep in $(seq "$REPEAT"); do
                rc=1
                mode=plain; is_tls "$name" && mode=tls
                start_server "$srv" "$mode" && run_tool "$name" "$srv" "$rep" "$args"
                stop_server
                [ $rc -eq 0 ] || failed_scen[$name]=1
            done
        done
    done
fi
# Each scenario is one test: failed when any of its runs failed, skipped
# when none of its servers could run here.
pass=0; fail=0; skip=0
for name in "${names[@]}"; do
    if [ -n "${failed_scen[$name]:-}" ]; then fail=$((fail + 1))
    elif [ -n "${ran_scen[$name]:-}" ]; then pass=$((pass + 1))
    else skip=$((skip + 1)); fi
done
[ "$skip" -eq 0 ] || echo "$skip scenario(s) skipped: no server of theirs ran (SERVERS, or a package missing)"
[ $SMOKE = 1 ] || echo >&2

if [ $SMOKE = 0 ]; then
    mkdir -p bench/results
    node bench/report.js "$RAW" bench/results/latest.json
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
