#!/usr/bin/env bash
# tests/cross/run.sh TARGET [BUILD_DIR] — the test suites for one target C users have besides the
# x86-64 Linux host: built with -Wall -Wextra -Werror, run under Wine, qemu-user or node's WASI.
#
#   mingw64 mingw32        x86_64-/i686-w64-mingw32-gcc (static, winpthreads), run under wine
#   clang-cl               clang-cl in MSVC mode (/W4 /WX) against Wine's MSVC-style headers and
#                          import libraries (Debian has no MSVC runtime or Windows SDK), linked by
#                          lld-link with tests/cross/msvc/crt0.c, run under wine; C and C++
#   aarch64 riscv64 armhf  Debian's *-linux-gnu cross compilers, run under qemu-user
#   aarch64-64k            the same aarch64 binaries under qemu-aarch64 -p 65536 (64 KiB pages)
#   m32                    gcc -m32 (gcc-N-multilib), run natively
#   posix-portable         gcc -DFASTALLOC_PORTABLE_POSIX (no mremap, no MAP_NORESERVE, no reliance
#   posix-portable-asan    on MADV_DONTNEED zeroing), plain and under ASan+UBSan
#   wasm32                 clang --target=wasm32-wasi with wasi-libc, run by node (wasi-run.mjs)
#
# Each target builds up to three variants of the suites:
#   os        the core suites (test_api test_sizes test_zero test_threads test_churn test_heap
#             test_region test_hooks test_visit) on the OS backend; on wasm32 the single-threaded ones (test_api
#             test_sizes test_zero test_heap test_region), fastalloc beside wasi-libc's malloc
#   override  (wasm32) the same with -DFASTALLOC_OVERRIDE: fastalloc is malloc and grows linear
#             memory itself
#   region    (Windows, clang-cl, wasm32) the region suites with -DFASTALLOC_NO_OS, as the
#             Makefile's region build: they run wherever the header compiles, OS backend or not
#   guard     (every target with page protection: all but wasm32) test_guard with
#             -DFASTALLOC_GUARD_SAMPLE=64 -DFASTALLOC_SECURE: sampled blocks and huge blocks' guard
#             pages on the target's OS backend (the faults themselves only where fork() exists)
# A variant whose header alone does not compile for the target is SKIPPED as "blocked on the header
# port" with the compiler's first error; with CI=true a SKIPPED counts as a failure.
#
# Installs the toolchain with apt-get when root (as tests/deps.sh does); otherwise a missing tool
# makes the target SKIPPED. Prints one PASS/FAIL line per binary (with the "skipped:" lines the
# suites print for sub-tests the platform cannot run), the build and run times, and last the total
# "N passed, N failed" (tests/run.sh adds it up when given "bash tests/cross/run.sh TARGET DIR").
#
# Environment: FA_CROSS_TIMEOUT (seconds per binary, default 600), FA_CROSS_QUICK=1 (sets
# FA_TEST_QUICK=1: the suites scale their loops down), FA_WINEPREFIX (default: one prefix per user
# under $TMPDIR, made once with wineboot, ~20 s).
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)

target=${1:-}
out=${2:-}
targets="mingw64 mingw32 clang-cl aarch64 riscv64 armhf aarch64-64k m32 posix-portable posix-portable-asan wasm32"
if [ -z "$target" ] || ! [[ " $targets " == *" $target "* ]]; then
    echo "usage: $0 TARGET [BUILD_DIR]   (TARGET: $targets)" >&2
    exit 2
fi
[ -n "$out" ] || out=$(mktemp -d)
mkdir -p "$out"
out=$(cd "$out" && pwd)

CORE="test_api test_sizes test_zero test_threads test_churn test_heap test_region test_hooks test_visit"
REGION="test_api test_sizes test_zero test_heap test_region"
WARN="-Wall -Wextra -Werror"
COMMON="-std=c11 -g $WARN -I$root -I$root/tests"
timeout_s=${FA_CROSS_TIMEOUT:-600}
[ "${FA_CROSS_QUICK:-0}" != 0 ] && export FA_TEST_QUICK=1

pass=0
fail=0
build_secs=0
run_secs=0

now() { date +%s.%N; }
secs_since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }
add_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a + b }'; }

# skip_target REASON: the whole target cannot run here.
skip_target() {
    echo "SKIPPED: cross $target ($1)"
    if [ "${CI:-}" = true ]; then echo "0 passed, 1 failed"; exit 1; fi
    echo "0 passed, 0 failed"
    exit 0
}

# ---- toolchain ------------------------------------------------------------------------------------
# need TOOL_OR_FILE PACKAGE...: install the packages when the tool (a command, or an absolute path)
# is missing and we may.
missing_pkgs=()
need() {
    local what=$1
    shift
    if [ "${what#/}" != "$what" ]; then [ -e "$what" ] && return; else command -v "$what" >/dev/null 2>&1 && return; fi
    missing_pkgs+=("$@")
}
install_missing() {
    [ ${#missing_pkgs[@]} -eq 0 ] && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "cross $target: installing ${missing_pkgs[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        local i386=0
        for p in "${missing_pkgs[@]}"; do [[ $p == *:i386 ]] && i386=1; done
        if [ $i386 = 1 ] && ! dpkg --print-foreign-architectures | grep -qx i386; then
            dpkg --add-architecture i386
        fi
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"; } >"$out/apt.log" 2>&1 \
            || { echo "cross $target: apt-get install ${missing_pkgs[*]} failed:"; tail -5 "$out/apt.log" | sed 's/^/    /'; }
    fi
}
# require TOOL_OR_FILE...: skip the target when any is still missing
require() {
    local what
    for what in "$@"; do
        if [ "${what#/}" != "$what" ]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
        skip_target "$what missing; apt-get install ${missing_pkgs[*]:-the toolchain}"
    done
}

wine_setup() {
    export WINEDEBUG=-all
    export WINEPREFIX=${FA_WINEPREFIX:-${TMPDIR:-/tmp}/fastalloc-wineprefix-$(id -u)}
    export WINEDLLOVERRIDES="mscoree,mshtml="   # no Mono / Gecko install prompts
    unset DISPLAY                              # headless: Wine needs no X server for console programs
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        local t0
        t0=$(now)
        wineboot --init >"$out/wineboot.log" 2>&1
        echo "cross $target: wine prefix $WINEPREFIX made in $(secs_since "$t0")s"
    fi
}
wine_done() { wineserver -k >/dev/null 2>&1 || true; }

# Linux triplets for the qemu targets
triplet=""
qemu=""
case $target in
aarch64|aarch64-64k) triplet=aarch64-linux-gnu; qemu=qemu-aarch64 ;;
riscv64) triplet=riscv64-linux-gnu; qemu=qemu-riscv64 ;;
armhf) triplet=arm-linux-gnueabihf; qemu=qemu-arm ;;
esac
debarch() { case $1 in aarch64-linux-gnu) echo arm64 ;; riscv64-linux-gnu) echo riscv64 ;; arm-linux-gnueabihf) echo armhf ;; esac; }

case $target in
mingw64)
    need x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64
    need wine wine wine64
    install_missing
    require x86_64-w64-mingw32-gcc wine wineboot
    ;;
mingw32)
    need i686-w64-mingw32-gcc gcc-mingw-w64-i686
    need wine wine
    # 32-bit programs need wine32 (i386 multiarch) next to wine64
    [ -e /usr/lib/wine/wine ] || missing_pkgs+=(wine32:i386)
    install_missing
    require i686-w64-mingw32-gcc wine wineboot /usr/lib/wine/wine
    ;;
clang-cl)
    need clang clang
    need lld-link lld
    need /usr/include/wine/wine/msvcrt/stdio.h libwine-dev
    need wine wine wine64
    install_missing
    require lld-link wine wineboot /usr/include/wine/wine/msvcrt/stdio.h /usr/lib/x86_64-linux-gnu/wine/x86_64-windows/libucrtbase.a
    ;;
aarch64|aarch64-64k|riscv64|armhf)
    need "$triplet-gcc" "gcc-$triplet" "libc6-dev-$(debarch "$triplet")-cross"
    need "$qemu" qemu-user
    install_missing
    require "$triplet-gcc" "$qemu" "/usr/$triplet/lib"
    ;;
m32)
    # gcc-N-multilib: the gcc-multilib metapackage conflicts with the cross compilers above
    need /usr/lib32/libc.so "gcc-$(gcc -dumpversion | cut -d. -f1)-multilib"
    install_missing
    require gcc /usr/lib32/libc.so
    ;;
posix-portable|posix-portable-asan)
    require gcc
    ;;
wasm32)
    need clang clang
    need wasm-ld lld
    need /usr/include/wasm32-wasi/stdio.h wasi-libc
    # compiler-rt's builtins for wasm32 (Debian 12: libclang-rt-14-dev-wasm32, for clang 14)
    ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 \
        || missing_pkgs+=("libclang-rt-$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)-dev-wasm32")
    need node nodejs
    install_missing
    require clang wasm-ld node /usr/include/wasm32-wasi/stdio.h
    ;;
esac

# ---- per-target compiler, flags, runner -------------------------------------------------------------
# CC / CFLAGS / LDFLAGS / EXE (file suffix) / RUN (command prefix) / ENVS (for the runs)
EXE=""
RUN=""
LDFLAGS=""
ENVS=()
variants="os"
case $target in
mingw64|mingw32)
    CC=$([ "$target" = mingw64 ] && echo x86_64-w64-mingw32-gcc || echo i686-w64-mingw32-gcc)
    CFLAGS="$COMMON -O2 -pthread"
    LDFLAGS="-static"
    EXE=.exe
    RUN="wine"
    variants="os region"
    wine_setup
    ;;
clang-cl)
    CL=$(command -v clang-cl || command -v clang-cl-14 || ls /usr/lib/llvm-*/bin/clang-cl 2>/dev/null | tail -n 1)
    [ -n "$CL" ] || skip_target "clang-cl missing (it comes with the clang package's clang-NN)"
    WINE_INC=/usr/include/wine/wine
    WINE_LIB=/usr/lib/x86_64-linux-gnu/wine/x86_64-windows
    # /Zl: no default-library directives (no MSVC runtime here); /GS-: no security cookie (also
    # MSVC runtime); /Z7: debug info in the object; tests/cross/msvc: pthread.h, sched.h
    CLFLAGS="--target=x86_64-pc-windows-msvc /nologo /W4 /WX /O2 /Z7 /GS- /Zl -imsvc $WINE_INC/msvcrt -imsvc $WINE_INC/windows"
    CLFLAGS="$CLFLAGS -I$root/tests/cross/msvc -I$root -I$root/tests /FI$root/tests/cross/msvc/wine_quirks.h"
    LINK="lld-link /nologo /subsystem:console /entry:mainCRTStartup $WINE_LIB/libucrtbase.a $WINE_LIB/libkernel32.a $WINE_LIB/libntdll.a"
    EXE=.exe
    RUN="wine"
    variants="os region"
    wine_setup
    ;;
aarch64|aarch64-64k|riscv64|armhf)
    CC=$triplet-gcc
    CFLAGS="$COMMON -O2 -pthread"
    if [ "$target" = armhf ]; then
        # QEMU 7.2 unmaps the wrong range on an in-place mremap shrink of a 32-bit guest: see the file
        LDFLAGS="$root/tests/cross/qemu32_mremap.c -Wl,--wrap=mremap"
    fi
    qflags="-L /usr/$triplet"
    [ "$target" = aarch64-64k ] && qflags="-p 65536 $qflags"
    RUN="$qemu $qflags"
    # the re-exec'd children of test_region run under the emulator too; qemu's own bookkeeping adds
    # ~14 MiB resident after test_churn's 1 GiB peak
    ENVS=("FA_TEST_EXEC_PREFIX=$RUN" "FA_TEST_RSS_SLACK_MIB=32")
    ;;
m32)
    CC=gcc
    CFLAGS="$COMMON -m32 -O2 -pthread"
    # Debian 12's gcc -m32 finds glibc's i386 headers but not the kernel's <asm/*.h> (only under
    # /usr/include/x86_64-linux-gnu, and the same for both widths): point at them
    if ! printf '#include <errno.h>\n' | gcc -m32 -E -x c - >/dev/null 2>&1; then
        mkdir -p "$out/m32-include"
        ln -sfn /usr/include/x86_64-linux-gnu/asm "$out/m32-include/asm"
        CFLAGS="$CFLAGS -isystem $out/m32-include"
    fi
    ;;
posix-portable)
    CC=gcc
    CFLAGS="$COMMON -O2 -pthread -DFASTALLOC_PORTABLE_POSIX"
    ;;
posix-portable-asan)
    CC=gcc
    CFLAGS="$COMMON -pthread -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all -fsanitize=address,undefined -DFASTALLOC_PORTABLE_POSIX"
    ;;
wasm32)
    CC="clang --target=wasm32-wasi"
    CFLAGS="$COMMON -O2"
    EXE=.wasm
    # --no-incremental-marking: Debian's node 20 crashes (SIGSEGV or a V8 fatal in the collector's
    # marking, from GrowWasmMemoryInPlace) in most runs of a plain wasm program that grows memory
    # step by step while it prints; tests/cross/README.md has the 12-line reproducer. Without
    # incremental marking: 0 crashes in 30 runs.
    RUN="node --no-incremental-marking $root/tests/cross/wasi-run.mjs"
    # os: fastalloc beside wasi-libc's malloc, taking its memory from it; override: fastalloc as the
    # program's malloc, growing linear memory itself (memory.grow)
    variants="os override region"
    ;;
esac

[ "$target" = wasm32 ] || variants="$variants guard"

# variant_flags VARIANT: extra flags of the variant
variant_flags() {
    case $1 in
    os) [ "$target" = wasm32 ] && echo "-DFASTALLOC_SINGLE_THREAD" ;;
    region) echo "-DFASTALLOC_NO_OS" ;;
    override) echo "-DFASTALLOC_OVERRIDE" ;;
    guard) echo "-DFASTALLOC_GUARD_SAMPLE=64 -DFASTALLOC_SECURE" ;;
    esac
}
variant_suites() {
    case $1 in
    os) [ "$target" = wasm32 ] && echo "$REGION" || echo "$CORE" ;;
    region|override) echo "$REGION" ;;
    guard) echo "test_guard" ;;
    esac
}

# compile SRC OUT LANG(c|c++) EXTRA_FLAGS: builds one program; the compiler's output goes to OUT.build
compile() {
    local src=$1 exe=$2 lang=$3 extra=$4 obj=${2%.*}.obj
    if [ "$target" = clang-cl ]; then
        local mode=/TC
        [ "$lang" = c++ ] && mode="/TP /EHs-c- /GR-"
        # (inputs after --: clang-cl would read an absolute path /work/... as an option)
        [ -f "$out/crt0.obj" ] || $CL $CLFLAGS /c "/Fo$out/crt0.obj" -- "$root/tests/cross/msvc/crt0.c" >"$out/crt0.build" 2>&1 \
            || { cat "$out/crt0.build"; return 1; }
        $CL $CLFLAGS $extra $mode /c "/Fo$obj" -- "$src" && $LINK "/out:$exe" "$obj" "$out/crt0.obj"
    else
        $CC $CFLAGS $extra "$src" $LDFLAGS -o "$exe"
    fi
}

# header_blocker VARIANT: prints the first error when fastalloc.h alone does not compile for the variant
header_blocker() {
    local extra dir=$out/$1
    extra=$(variant_flags "$1")
    mkdir -p "$dir"
    printf '#define FASTALLOC_IMPLEMENTATION\n#include "fastalloc.h"\nint fa_cross_probe(void) { void* p = fa_malloc(1); fa_free(p); return p != 0; }\n' >"$dir/header_probe.c"
    local rc
    if [ "$target" = clang-cl ]; then
        $CL $CLFLAGS $extra /TC /c "/Fo$dir/header_probe.obj" -- "$dir/header_probe.c" >"$dir/header_probe.log" 2>&1
        rc=$?
    else
        $CC $CFLAGS $extra -c "$dir/header_probe.c" -o "$dir/header_probe.o" >"$dir/header_probe.log" 2>&1
        rc=$?
    fi
    [ $rc -eq 0 ] && return 0
    grep -m1 -E "error" "$dir/header_probe.log" | sed "s|$root/||g"
    return 1
}

# run_bin LABEL EXE: runs one test program, adds its counts
run_bin() {
    local label=$1 exe=$2 log=$2.log rc line p f note="" t0 secs
    t0=$(now)
    (cd "$(dirname "$exe")" && env "${ENVS[@]}" timeout -k 10 "$timeout_s" $RUN "$exe" >"$log" 2>&1)
    rc=$?
    # wine sometimes fails to start a program at all (the program never ran, so there is no result
    # to judge): start it once more, and say so
    if [ "$rc" -ne 0 ] && grep -qE 'Application could not be started|ShellExecuteEx failed' "$log"; then
        echo "      $label: the runner could not start it; starting it again"
        (cd "$(dirname "$exe")" && env "${ENVS[@]}" timeout -k 10 "$timeout_s" $RUN "$exe" >"$log" 2>&1)
        rc=$?
    fi
    secs=$(secs_since "$t0")
    run_secs=$(add_secs "$run_secs" "$secs")
    sed -i 's/\r$//' "$log"   # Windows programs end lines with CR LF
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    p=0
    f=0
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*, }
        f=${f%% failed*}
    fi
    if [ "$rc" -eq 124 ]; then note="timed out after ${timeout_s}s"; f=$((f + 1))
    elif [ "$rc" -gt 128 ]; then note="killed by signal $((rc - 128))"; f=$((f + 1))
    elif [ -z "$line" ]; then note="no result line (exit $rc)"; f=$((f + 1))
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then note="exit status $rc with 0 failed checks"; f=$((f + 1))
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    echo "$([ "$f" -eq 0 ] && echo PASS || echo FAIL)  $label: $p passed, $f failed (${secs}s)${note:+ -- $note}"
    grep -E '^skipped: ' "$log" | sed 's/^/      /'
    [ "$f" -eq 0 ] || grep -vE '^(skipped: |\(|[0-9]+ passed, )' "$log" | grep -v ExperimentalWarning | grep -v 'trace-warnings' | head -20 | sed 's/^/    /'
}

# build_and_run LABEL SRC LANG EXTRA DIR
build_and_run() {
    local label=$1 src=$2 lang=$3 extra=$4 dir=$5 name t0 secs
    name=$(basename "${src%.*}")
    local exe=$dir/$name$EXE
    t0=$(now)
    if ! compile "$src" "$exe" "$lang" "$extra" >"$dir/$name.build" 2>&1; then
        build_secs=$(add_secs "$build_secs" "$(secs_since "$t0")")
        echo "FAIL  $label: does not build"
        sed "s|$root/||g" "$dir/$name.build" | grep -v '^$' | head -20 | sed 's/^/    /'
        fail=$((fail + 1))
        return
    fi
    build_secs=$(add_secs "$build_secs" "$(secs_since "$t0")")
    run_bin "$label" "$exe"
}

echo "=== cross $target ($([ "$target" = clang-cl ] && echo "$CL" || echo "${CC%% *}"); runner: ${RUN:-native}) ==="
for v in $variants; do
    dir=$out/$v
    mkdir -p "$dir"
    if ! blocker=$(header_blocker "$v"); then
        echo "SKIPPED: cross $target $v suites -- blocked on the header port: ${blocker:-fastalloc.h does not compile}"
        [ "${CI:-}" = true ] && fail=$((fail + 1))
        # meanwhile the suites that no other variant builds must at least compile for the target:
        # built against the header's FASTALLOC_NO_OS configuration, which compiles everywhere
        if [ "$v" = os ]; then
            for t in $(variant_suites os); do
                [[ " $REGION " == *" $t "* ]] && [[ " $variants " == *" region "* ]] && continue
                name=$t$EXE
                if compile "$root/tests/$t.c" "$dir/$name" c "-DFASTALLOC_NO_OS" >"$dir/$t.build" 2>&1; then
                    echo "PASS  $target/os/$t: builds (against FASTALLOC_NO_OS; not run until the port)"
                    pass=$((pass + 1))
                else
                    echo "FAIL  $target/os/$t: does not build (against FASTALLOC_NO_OS)"
                    sed "s|$root/||g" "$dir/$t.build" | grep -v '^$' | head -20 | sed 's/^/    /'
                    fail=$((fail + 1))
                fi
            done
        fi
        continue
    fi
    extra=$(variant_flags "$v")
    for t in $(variant_suites "$v"); do
        build_and_run "$target/$v/$t" "$root/tests/$t.c" c "$extra" "$dir"
    done
    if [ "$target" = clang-cl ] && [ "$v" != guard ]; then
        # the header as MSVC-mode C++ (/TP /W4 /WX), linked and run; Wine has C headers only, so
        # without the C++ section (namespace fa needs <new>; tests/cpp_*.cpp and examples/cpp check it)
        build_and_run "$target/$v/cxx_smoke (C++)" "$root/tests/cross/msvc/cxx_smoke.cpp" c++ "$extra -DFASTALLOC_NO_CPP" "$dir"
    fi
done
case $RUN in wine*) wine_done ;; esac
echo "timing  cross $target: build ${build_secs}s, run ${run_secs}s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
