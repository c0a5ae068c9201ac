#!/bin/bash
# Runs every test tier and prints one closing line "N passed, N failed".
#  - unit: each build/tests/test_* (cmocka, TAP output)
#  - e2e:  node --test over tests/e2e/*.test.js (real gateway, real workers,
#          real socket.io-client / engine.io-client from npm)
#  - node: node --test over workers/node/test/*.test.js (the Node.js worker
#          library against a fake gateway: a real ZeroMQ ROUTER)
#  - fuzz: each build/fuzz/<name> (a libFuzzer driver linked with
#          fuzz/replay_main.c) over fuzz/corpus/<name>/ and
#          fuzz/regressions/<name>/, one test per input file
#  - python: the Python worker library's unittest suite (workers/python)
#  - bench: bench/run.sh --smoke (iogate-bench, tiny loads against the
#          gateway + bench worker and the Node.js reference), one test per
#          scenario, failed when no traffic got through
#  - node: the Node.js worker library's tests (workers/node)
# ONLY=unit|fuzz|python|node|e2e|bench runs one tier; FILTER=regex limits e2e files.
# ALSO_BUILDS="build-san" runs everything again against each further build
# directory (CI: `make test` with CI=true adds the ASan/UBSan pass) and the
# closing line sums every pass.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

if [ -n "${ALSO_BUILDS:-}" ]; then
    tp=0; tf=0
    for b in "$BUILD" $ALSO_BUILDS; do
        echo "== pass: $b"
        log=$(mktemp)
        san=${SANITIZE:-}; [ "$b" != "$BUILD" ] && san=${ALSO_SANITIZE:-address,undefined}
        BUILD=$b SANITIZE=$san ALSO_BUILDS= bash "$0" > "$log" 2>&1
        last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
        grep -vxF "$last" "$log" | sed "s/^/[$b] /"
        rm -f "$log"
        p=$(awk '{print $1}' <<<"${last:-0 passed, 1 failed}"); f=$(awk '{print $3}' <<<"${last:-0 passed, 1 failed}")
        echo "[$b] $p passed, $f failed (this pass)"
        tp=$((tp + p)); tf=$((tf + f))
    done
    echo "$tp passed, $tf failed"
    [ "$tf" -eq 0 ] && [ "$tp" -gt 0 ]
    exit
fi
export IOGATE_BUILD="$PWD/$BUILD"
# Programs a test compiles itself must use the same sanitizers as the build.
if [ -n "${SANITIZE:-}" ]; then export IOGATE_SANITIZE_FLAGS="-fsanitize=$SANITIZE"; fi
pass=0; fail=0
mkdir -p tests/artifacts

if [ "${ONLY:-unit}" = unit ] || [ -z "${ONLY:-}" ]; then
    # No two files of the C worker library call each other (scripts/check_worker_layers.sh).
    if out=$(BUILD="$BUILD" bash scripts/check_worker_layers.sh 2>&1); then pass=$((pass + 1)); f=0
    else echo "$out"; fail=$((fail + 1)); f=1; fi
    printf '%-40s %3d passed, %d failed\n' "layers: workers/c call direction" "$((1 - f))" "$f"
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        out=$(CMOCKA_MESSAGE_OUTPUT=tap "$t" 2>&1); rc=$?
        p=$(grep -cE '^ok ' <<<"$out"); f=$(grep -cE '^not ok ' <<<"$out")
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed before reporting
        pass=$((pass + p)); fail=$((fail + f))
        if [ "$f" -gt 0 ]; then echo "$out"; fi
        printf '%-40s %3d passed, %d failed\n' "unit: $(basename "$t")" "$p" "$f"
    done
    # No #include points up a layer of the gateway (scripts/check_layers.sh).
    if out=$(bash scripts/check_layers.sh 2>&1); then pass=$((pass + 1)); f=0
    else echo "$out"; fail=$((fail + 1)); f=1; fi
    printf '%-40s %3d passed, %d failed\n' "layers: include direction" "$((1 - f))" "$f"
    # Every C file is formatted as .clang-format says (`make format` fixes it).
    if out=$(bash scripts/check_format.sh 2>&1); then pass=$((pass + 1)); f=0
    else echo "$out"; fail=$((fail + 1)); f=1; fi
    printf '%-40s %3d passed, %d failed\n' "format: clang-format" "$((1 - f))" "$f"
fi

if [ "${ONLY:-fuzz}" = fuzz ] || [ -z "${ONLY:-}" ]; then
    for d in fuzz/corpus/*/; do
        [ -d "$d" ] || continue
        d=${d%/}; name=$(basename "$d"); bin="$BUILD/fuzz/$name"
        if [ ! -x "$bin" ]; then
            printf '%-40s   0 passed, 1 failed (%s not built)\n' "fuzz: $name" "$bin"
            fail=$((fail + 1)); continue
        fi
        dirs=("$d"); [ -d "fuzz/regressions/$name" ] && dirs+=("fuzz/regressions/$name")
        total=$(find "${dirs[@]}" -maxdepth 1 -type f ! -name '.*' | wc -l)
        out=$("$bin" "${dirs[@]}" 2>&1); rc=$?
        p=$(grep -cE '^ok ' <<<"$out"); f=$((total - p))
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        if [ "$f" -gt 0 ]; then tail -40 <<<"$out"; fi
        pass=$((pass + p)); fail=$((fail + f))
        printf '%-40s %3d passed, %d failed\n' "fuzz: $name" "$p" "$f"
    done
fi

if [ "${ONLY:-python}" = python ] && [ -d workers/python/tests ]; then
    out=$(/usr/bin/python3 -m unittest discover -s workers/python/tests 2>&1); rc=$?
    n=$(grep -oE '^Ran [0-9]+ test' <<<"$out" | awk '{print $2}'); n=${n:-0}
    f=0; for k in failures errors; do
        v=$(grep -oE "$k=[0-9]+" <<<"$out" | tail -1 | cut -d= -f2); f=$((f + ${v:-0})); done
    sk=$(grep -oE 'skipped=[0-9]+' <<<"$out" | tail -1 | cut -d= -f2); p=$((n - f - ${sk:-0}))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -gt 0 ]; then echo "$out" | tail -80; fi
    printf '%-40s %3d passed, %d failed\n' "python: workers/python/tests" "$p" "$f"
    pass=$((pass + p)); fail=$((fail + f))
fi

if [ "${ONLY:-node}" = node ] || [ -z "${ONLY:-}" ]; then
    files=$(ls workers/node/test/*.test.js 2>/dev/null || true)
    if [ -n "$files" ]; then
        out=$(node --test --test-concurrency=1 --test-reporter=tap $files 2>&1); rc=$?
        echo "$out" > tests/artifacts/node.tap
        p=$(grep -E '^# pass ' <<<"$out" | tail -1 | awk '{print $3}'); p=${p:-0}
        f=$(grep -E '^# fail ' <<<"$out" | tail -1 | awk '{print $3}'); f=${f:-0}
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        if [ "$f" -gt 0 ]; then grep -B2 -A30 -E '^\s*not ok' <<<"$out" | head -200; fi
        printf '%-40s %3d passed, %d failed\n' "node: workers/node" "$p" "$f"
        pass=$((pass + p)); fail=$((fail + f))
    fi
fi

if [ "${ONLY:-e2e}" = e2e ] || [ -z "${ONLY:-}" ]; then
    files=$(ls tests/e2e/*.test.js 2>/dev/null | grep -E "${FILTER:-.}" || true)
    if [ -n "$files" ]; then
        out=$(node --test --test-concurrency=1 --test-reporter=tap $files 2>&1); rc=$?
        echo "$out" > tests/artifacts/e2e.tap
        p=$(grep -E '^# pass ' <<<"$out" | tail -1 | awk '{print $3}'); p=${p:-0}
        f=$(grep -E '^# fail ' <<<"$out" | tail -1 | awk '{print $3}'); f=${f:-0}
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        grep -E '^(not ok|ok) |^# Subtest' <<<"$out" | grep -E '^not ok' -A0 || true
        if [ "$f" -gt 0 ]; then grep -B2 -A30 -E '^\s*not ok' <<<"$out" | head -200; fi
        printf '%-40s %3d passed, %d failed\n' "e2e: node --test" "$p" "$f"
        pass=$((pass + p)); fail=$((fail + f))
    fi
fi

if [ "${ONLY:-bench}" = bench ] || [ -z "${ONLY:-}" ]; then
    out=$(BUILD="$BUILD" bash bench/run.sh --smoke 2>&1); rc=$?
    echo "$out" > tests/artifacts/bench-smoke.txt
    p=$(tail -1 <<<"$out" | grep -oE '^[0-9]+ passed' | grep -oE '^[0-9]+'); p=${p:-0}
    f=$(tail -1 <<<"$out" | grep -oE '[0-9]+ failed$' | grep -oE '^[0-9]+'); f=${f:-0}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -gt 0 ]; then echo "$out"; else grep -E '^skip ' <<<"$out" || true; fi
    printf '%-40s %3d passed, %d failed\n' "bench: smoke" "$p" "$f"
    pass=$((pass + p)); fail=$((fail + f))
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
