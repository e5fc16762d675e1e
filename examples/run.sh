#!/usr/bin/env bash
# examples/run.sh [BINDIR] -- runs the examples that check themselves (they exit non-zero when a
# result is wrong), from BINDIR (default build/examples, made by `make examples`). One PASS/FAIL
# line each, then "N passed, N failed" (tests/run.sh adds it to its total); exits non-zero when any
# failed. A missing binary, a timeout or a crash fails too.
#   tiered_tasks   every result and escalation count of the tiered-budget interpreter
#   firmware       no-OS region: steady state, exhaustion, recovery, contents, no OS memory
#   game_loop      per-frame heap: memory mapped at the end no more than after warm-up
#   hello          the basic calls return memory
# Not here: worker_threads, which prints what it freed but checks nothing.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINDIR=${1:-$here/../build/examples}
checked=(tiered_tasks firmware game_loop hello)
pass=0; fail=0
for name in "${checked[@]}"; do
    bin=$BINDIR/$name
    if [ ! -x "$bin" ]; then
        echo "FAIL  $name: no $bin (make examples)"; fail=$((fail + 1)); continue
    fi
    out=$(timeout -k 5 "${FA_EXAMPLE_TIMEOUT:-60}" "$bin" 2>&1); rc=$?
    if [ $rc -eq 0 ]; then
        echo "PASS  $name: $(tail -n 1 <<<"$out")"; pass=$((pass + 1))
    else
        echo "FAIL  $name: exit $rc"; sed 's/^/    /' <<<"$out"; fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
