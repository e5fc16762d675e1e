# tests/preload/report.sh — sourced by run.sh and tools.sh: one line per check, PASS / SKIPPED /
# FAIL, counted in $passed and $failed for the closing "N passed, N failed" line.
# fail NAME REASON [FILE...]: the files' last lines are shown indented, to see what went wrong
# (REPORT_TAIL lines each, default 12).
passed=0
failed=0
pass() { echo "PASS     $1: $2"; passed=$((passed + 1)); }
skip() { echo "SKIPPED  $1: $2"; }
fail() {
    local name="$1" reason="$2"
    shift 2
    echo "FAIL     $name: $reason"
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "         --- $(basename "$f") (last lines)"
        tail -n "${REPORT_TAIL:-12}" "$f" | sed 's/^/         | /'
    done
    failed=$((failed + 1))
}
