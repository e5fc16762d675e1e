#!/usr/bin/env bash
# tests/embedded/run.sh [BUILD_DIR] — the region-mode suites on an emulated Cortex-M4.
#
# Builds tests/test_region.c, test_heap.c, test_lock.c, tests/embedded/overhead.c (the bookkeeping
# of a 64 KiB region, checked) and examples/firmware.c for QEMU's
# mps2-an386 board with arm-none-eabi-gcc and newlib (semihosting: printf and exit reach the host),
# in the firmware configuration: FASTALLOC_NO_OS (hence single-threaded), regions in the board's
# 16 MiB of PSRAM. Each image runs under qemu-system-arm; its "N passed, N failed" line is added up.
# Installs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm with apt-get when running
# as root; otherwise a missing tool makes the suite SKIPPED (and, with CI=true, failed).
# Also prints the allocator's code size for Cortex-M4 at -Os (README figures), as information.
set -u
cd "$(dirname "$0")/../.."
out=${1:-$(mktemp -d)}
mkdir -p "$out"

need=()
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need+=(gcc-arm-none-eabi)
[ -f /usr/lib/arm-none-eabi/newlib/thumb/v7e-m/nofp/librdimon.a ] || ls /usr/lib/arm-none-eabi/newlib/*/librdimon.a >/dev/null 2>&1 || need+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "embedded: installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null 2>&1 \
        || echo "embedded: apt-get install ${need[*]} failed"
fi
for tool in arm-none-eabi-gcc qemu-system-arm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIPPED: embedded suite ($tool missing; apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
        echo "0 passed, $([ "${CI:-}" = true ] && echo 1 || echo 0) failed"
        [ "${CI:-}" = true ] && exit 1
        exit 0
    fi
done

CC=arm-none-eabi-gcc
ARCH="-mcpu=cortex-m4 -mthumb -mfloat-abi=soft"
CFLAGS="$ARCH -std=c11 -O2 -g -Wall -Wextra -Werror -I. -Itests -DFASTALLOC_NO_OS -DFA_TEST_BARE_METAL
        -DHARNESS_REGION_BYTES=((size_t)8<<20) -DREGION_BIG=((size_t)2<<20) -DHEAP_TEST_BLOCKS=300"
LDFLAGS="--specs=rdimon.specs -nostartfiles -T tests/embedded/mps2-an386.ld -Wl,--gc-sections"
QEMU="qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none -semihosting-config enable=on,target=native"

pass=0
fail=0
run_image() {
    local name=$1 src=$2 log="$out/$1.log" rc line p f
    if ! $CC $CFLAGS tests/embedded/startup.c "$src" $LDFLAGS -o "$out/$name.elf" >"$log" 2>&1; then
        echo "FAIL  $name: does not build"; sed 's/^/    /' "$log" | head -20
        fail=$((fail + 1)); return
    fi
    timeout 600 $QEMU -kernel "$out/$name.elf" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    else
        p=0; f=$([ "$rc" -eq 0 ] && echo 0 || echo 1)   # the example: its exit status is the check
        [ "$rc" -eq 0 ] && p=1
    fi
    pass=$((pass + p)); fail=$((fail + f))
    echo "$([ "$f" -eq 0 ] && echo PASS || echo FAIL)  $name on Cortex-M4 (QEMU mps2-an386): $p passed, $f failed (exit $rc)"
    [ "$f" -eq 0 ] || sed 's/^/    /' "$log" | tail -20
    grep -E '^(overhead|firmware): ' "$log" | sed 's/^/      /'   # the figures the README quotes
}
run_image test_region tests/test_region.c
run_image test_heap tests/test_heap.c
run_image test_lock tests/test_lock.c
run_image overhead tests/embedded/overhead.c
run_image firmware examples/firmware.c

# Code size of the allocator alone, Cortex-M4 -Os, region + single-thread (and without libc).
printf '#define FASTALLOC_IMPLEMENTATION\n#include "fastalloc.h"\n' >"$out/fa.c"
for cfg in FASTALLOC_NO_OS FASTALLOC_NO_LIBC; do
    $CC $ARCH -std=c11 -Os -I. -D$cfg -c "$out/fa.c" -o "$out/fa_$cfg.o" \
        && echo "size  Cortex-M4 -Os $cfg: $(arm-none-eabi-size "$out/fa_$cfg.o" | awk 'NR==2 { printf "text %s, data %s, bss %s bytes", $1, $2, $3 }')"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
