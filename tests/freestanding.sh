#!/usr/bin/env bash
# tests/freestanding.sh [BUILD_DIR] — the FASTALLOC_NO_LIBC promise: the whole allocator compiles
# with -ffreestanding -nostdlib and its object file needs no symbol from anywhere else (no memset,
# no memcpy, no errno, no abort, no libgcc helper). Checked with gcc and clang for the host, and
# with arm-none-eabi-gcc for Cortex-M4 (-mthumb -Os) when that compiler is installed.
# Also checks that the FASTALLOC_NO_OS build (with a libc) references no OS or thread function.
# Prints one PASS/FAIL/SKIPPED line per check, then "N passed, N failed" as the last line.
set -u
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
mkdir -p "$out"
pass=0
fail=0
src="$out/fa_freestanding.c"
printf '#define FASTALLOC_IMPLEMENTATION\n#include "fastalloc.h"\n' >"$src"

# check NAME "undefined symbols allowed (regex, or empty for none)" COMPILER FLAGS...
check() {
    local name=$1 allowed=$2 cc=$3
    shift 3
    local obj="$out/$name.o" undef
    if ! command -v "${cc%% *}" >/dev/null 2>&1; then
        echo "SKIPPED  $name: ${cc%% *} not installed"
        [ "${CI:-}" = true ] && fail=$((fail + 1))
        return
    fi
    if ! $cc -I. -Wall -Wextra -Werror "$@" -c "$src" -o "$obj" 2>"$out/$name.log"; then
        echo "FAIL  $name: does not compile"; sed 's/^/    /' "$out/$name.log" | head -20
        fail=$((fail + 1))
        return
    fi
    local nm=nm
    [[ "$cc" == arm-none-eabi-* ]] && nm=arm-none-eabi-nm
    undef=$($nm -u "$obj" | awk '{print $NF}')
    [ -n "$allowed" ] && undef=$(printf '%s\n' "$undef" | grep -Ev "^($allowed)\$" || true)
    if [ -n "$undef" ]; then
        echo "FAIL  $name: needs $(echo $undef)"
        fail=$((fail + 1))
    else
        echo "PASS  $name: no outside symbol${allowed:+ beyond $allowed}"
        pass=$((pass + 1))
    fi
}

free_flags="-std=c11 -ffreestanding -nostdlib -DFASTALLOC_NO_LIBC"
check gcc-no-libc-O2   "" gcc   $free_flags -O2
check gcc-no-libc-Os   "" gcc   $free_flags -Os
check gcc-no-libc-debug "" gcc  $free_flags -O1 -DFASTALLOC_DEBUG
check gcc-no-libc-secure "" gcc $free_flags -O2 -DFASTALLOC_SECURE
check clang-no-libc-O2 "" clang $free_flags -O2
check clang-no-libc-Os "" clang $free_flags -Os
check cortex-m4-no-libc "" arm-none-eabi-gcc $free_flags -Os -mcpu=cortex-m4 -mthumb
check cortex-m4-no-libc-secure "" arm-none-eabi-gcc $free_flags -Os -mcpu=cortex-m4 -mthumb -DFASTALLOC_SECURE
# Cortex-M0 has neither a divider nor clz: libgcc's arithmetic helpers (not libc) are unavoidable.
check cortex-m0-no-libc "__aeabi_[a-z0-9]+|__(clz|ctz)[sd]i2" arm-none-eabi-gcc $free_flags -Os -mcpu=cortex-m0 -mthumb
# With a libc but no OS: memset, memcpy and errno only; no mmap, no pthread, no clock.
check gcc-no-os "memset|memcpy|__errno_location" gcc -std=c11 -O2 -DFASTALLOC_NO_OS
check cortex-m4-no-os "memset|memcpy|__errno" arm-none-eabi-gcc -std=c11 -Os -mcpu=cortex-m4 -mthumb -DFASTALLOC_NO_OS
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
