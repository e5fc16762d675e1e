#!/usr/bin/env bash
# tests/cross/all.sh [BUILD_DIR] — every cross target of tests/cross/run.sh, one after the other
# (each in BUILD_DIR/TARGET), through tests/run.sh: one summary line per target, then the total
# "N passed, N failed". FA_CROSS_TARGETS="a b ..." picks a subset. About 10 minutes on 2 cores
# (see tests/cross/README.md for the per-target times).
set -u
cd "$(dirname "$0")/../.."
out=${1:-$(mktemp -d)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
targets=${FA_CROSS_TARGETS:-"m32 posix-portable posix-portable-asan aarch64 aarch64-64k riscv64 armhf mingw64 mingw32 clang-cl wasm32"}
cmds=()
for t in $targets; do
    cmds+=("bash tests/cross/run.sh $t $out/$t")
done
# a target is one "binary" for tests/run.sh: give it the time of all its suites
FA_TEST_TIMEOUT=${FA_CROSS_TARGET_TIMEOUT:-1800} bash tests/run.sh "${cmds[@]}"
