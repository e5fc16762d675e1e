#!/usr/bin/env bash
# run.sh DIR|"COMMAND"... — run every test_* and cpp_test executable in the given build directories,
# in order; an argument that is not a directory is run as a shell command (a suite script) and
# judged the same way.
#
# Each binary runs under a timeout (FA_TEST_TIMEOUT seconds, default 300). Its last
# "N passed, N failed" line on stdout is added to the total. A binary that crashes, times out,
# prints no such line, or exits non-zero with 0 failures (e.g. a sanitizer report) counts as one
# extra failure. A directory without any test binary also counts as one failure.
# Prints a summary line per binary, then the total as the very last line, "N passed, N failed";
# exits non-zero if anything failed.
set -u

if [ "$#" -eq 0 ]; then
    echo "usage: $0 BUILD_DIR..." >&2
    exit 2
fi

timeout_s="${FA_TEST_TIMEOUT:-300}"
total_pass=0
total_fail=0
summaries=()
out="$(mktemp "${TMPDIR:-/tmp}/fa-run.XXXXXX")"
trap 'rm -f "$out"' EXIT

for dir in "$@"; do
    bins=()
    if [ -d "$dir" ]; then
        for f in "$dir"/test_* "$dir"/cpp_test; do
            [ -f "$f" ] && [ -x "$f" ] && bins+=("$f")
        done
    elif [ -n "$dir" ]; then
        bins+=("$dir")
    fi
    if [ "${#bins[@]}" -eq 0 ]; then
        echo "=== $dir: no test binaries ==="
        summaries+=("FAIL  $dir: no test binaries found")
        total_fail=$((total_fail + 1))
        continue
    fi
    for bin in "${bins[@]}"; do
        echo "=== $bin ==="
        start=$(date +%s.%N)
        if [ -d "$dir" ]; then
            timeout -k 10 "$timeout_s" "$bin" 2>&1 | tee "$out"
        else
            timeout -k 10 "$timeout_s" bash -c "$bin" 2>&1 | tee "$out"
        fi
        rc=${PIPESTATUS[0]}
        secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
        p=0
        f=0
        note=""
        if [ -n "$line" ]; then
            p=${line%% passed*}
            f=${line#*, }
            f=${f%% failed*}
        fi
        if [ "$rc" -eq 124 ]; then
            note="timed out after ${timeout_s}s"
            f=$((f + 1))
        elif [ "$rc" -gt 128 ]; then
            note="killed by signal $((rc - 128))"
            f=$((f + 1))
        elif [ -z "$line" ]; then
            note="no result line (exit $rc)"
            f=$((f + 1))
        elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            note="exit status $rc with 0 failed checks (sanitizer report?)"
            f=$((f + 1))
        fi
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
        status="PASS"
        [ "$f" -ne 0 ] && status="FAIL"
        summaries+=("$status  $bin: $p passed, $f failed (${secs}s)${note:+ -- $note}")
    done
done

echo "=== summary ==="
for s in "${summaries[@]}"; do
    echo "$s"
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
