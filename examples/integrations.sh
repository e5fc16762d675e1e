#!/usr/bin/env bash
# examples/integrations.sh [--bench] [OUTDIR] -- fastalloc plugged into what people already use:
# builds every example under examples/{lua,sqlite,stb_ds,cpp,jobs} (-Werror, and a FASTALLOC_DEBUG
# build of each), runs them and checks their results against known values; the job system also
# runs preloaded into glibc, libfastalloc.so and every peer bench/peers.sh finds. Ends with
# "N passed, N failed" (exit 1 on a failure). OUTDIR defaults to build/integrations.
#   --bench   then the comparisons, one hyperfine run per example (RUNS=10), and the peak RSS of
#             each command (one more run each): OUTDIR/bench.md. Installs hyperfine and the
#             Debian peers with apt-get when root.
# Needs Debian's liblua5.4-dev, libsqlite3-dev and libstb-dev (installed with apt-get when missing
# and root), gcc, g++ and clang++.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=0
if [ "${1:-}" = --bench ]; then bench=1; shift; fi
out=$(mkdir -p "${1:-$root/build/integrations}" && cd "${1:-$root/build/integrations}" && pwd)
ex=$root/examples
CC=${CC:-gcc}
CXX=${CXX:-g++}
CLANGXX=${CLANGXX:-clang++}
CFLAGS="-O2 -g -pthread -Wall -Wextra -Werror -I$root"
DEBUG="-O1 -g -pthread -Wall -Wextra -Werror -I$root -DFASTALLOC_DEBUG"
CXXFLAGS="-O2 -g -pthread -Wall -Wextra -Werror -I$root -I$ex/cpp"

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS  $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }

# build NAME COMMAND...: one check; the compiler's output is shown when it fails.
build() {
    local name=$1
    shift
    if "$@" >"$out/$name.log" 2>&1 && [ ! -s "$out/$name.log" ]; then ok "build $name"; return 0; fi
    bad "build $name"
    head -n 30 "$out/$name.log"
    return 1
}
# expect LABEL WANT COMMAND...: one check: exit 0 and WANT as the last line of stdout.
expect() {
    local label=$1 want=$2 got rc
    shift 2
    timeout 120 "$@" >"$out/run.out" 2>"$out/run.err"
    rc=$?
    got=$(tail -n 1 "$out/run.out")
    if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok "$label: $got"; return 0; fi
    bad "$label: exit $rc, got '$got', want '$want'"
    head -n 5 "$out/run.err"
    return 1
}
# need PACKAGE FILE: FILE is there, with PACKAGE installed by apt-get if it was not and we may.
apt_updated=0
need() {
    [ -e "$2" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "integrations.sh: installing $1 with apt-get"
        [ $apt_updated = 1 ] || { apt-get update -qq >/dev/null 2>&1; apt_updated=1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1
    fi
    [ -e "$2" ] && return 0
    bad "$1 is not installed (apt-get install $1)"
    return 1
}

# ---- Lua 5.4: a lua_Alloc over a first-class heap per lua_State ------------------------------------
lua_small="20000 words, 6134 distinct, report 64990 bytes, hash f0fe3f81"
lua_full="200000 words, 19670 distinct, report 64222 bytes, hash 0bb45f95"
have_lua=0
if need liblua5.4-dev /usr/include/lua5.4/lua.h; then
    build lua "$CC" -std=c11 $CFLAGS -I/usr/include/lua5.4 "$ex/lua/lua_fastalloc.c" -o "$out/lua_fastalloc" -llua5.4 && have_lua=1
    build lua_debug "$CC" -std=c11 $DEBUG -I/usr/include/lua5.4 "$ex/lua/lua_fastalloc.c" -o "$out/lua_fastalloc_debug" -llua5.4 &&
        expect "lua (debug build) fa" "$lua_small" "$out/lua_fastalloc_debug" fa "$ex/lua/workload.lua" 20000
    if [ $have_lua = 1 ]; then
        expect "lua fa" "$lua_full" "$out/lua_fastalloc" fa "$ex/lua/workload.lua"
        expect "lua default" "$lua_full" "$out/lua_fastalloc" default "$ex/lua/workload.lua"
    fi
    if command -v lua5.4 >/dev/null 2>&1; then
        expect "lua5.4 interpreter" "$lua_small" lua5.4 "$ex/lua/workload.lua" 20000
    fi
fi

# ---- SQLite: SQLITE_CONFIG_MALLOC ----------------------------------------------------------------------
sqlite_want="17146 rows, 992861 bytes of text, 1000 groups, order hash 547557329"
have_sqlite=0
if need libsqlite3-dev /usr/include/sqlite3.h; then
    build sqlite "$CC" -std=c11 $CFLAGS "$ex/sqlite/sqlite_fastalloc.c" -o "$out/sqlite_fastalloc" -lsqlite3 && have_sqlite=1
    build sqlite_debug "$CC" -std=c11 $DEBUG "$ex/sqlite/sqlite_fastalloc.c" -o "$out/sqlite_fastalloc_debug" -lsqlite3 &&
        expect "sqlite (debug build) fa" "$sqlite_want" "$out/sqlite_fastalloc_debug" fa 20000
    if [ $have_sqlite = 1 ]; then
        expect "sqlite fa" "$sqlite_want" "$out/sqlite_fastalloc" fa 20000
        expect "sqlite default" "$sqlite_want" "$out/sqlite_fastalloc" default 20000
    fi
fi

# ---- stb_ds: STBDS_REALLOC / STBDS_FREE onto a heap -------------------------------------------------------
stb_want="199800 items, 86458 keys (200000 puts), 31675 words counted 50000 times, 0 bad"
have_stb=0
if need libstb-dev /usr/include/stb/stb_ds.h; then
    STB="-std=gnu11 -I/usr/include/stb"     # stb_ds's hash maps use typeof
    build stb_ds "$CC" $STB $CFLAGS "$ex/stb_ds/stb_ds_fastalloc.c" -o "$out/stb_ds_fastalloc" && have_stb=1
    build stb_ds_libc "$CC" $STB $CFLAGS -DUSE_LIBC_REALLOC "$ex/stb_ds/stb_ds_fastalloc.c" -o "$out/stb_ds_libc" &&
        expect "stb_ds libc realloc" "$stb_want" "$out/stb_ds_libc" 200000
    build stb_ds_clang clang $STB $CFLAGS "$ex/stb_ds/stb_ds_fastalloc.c" -o "$out/stb_ds_clang" &&
        expect "stb_ds fa (clang)" "$stb_want" "$out/stb_ds_clang" 200000
    build stb_ds_debug "$CC" $STB $DEBUG "$ex/stb_ds/stb_ds_fastalloc.c" -o "$out/stb_ds_debug" &&
        expect "stb_ds (debug build) fa" "$stb_want" "$out/stb_ds_debug" 200000
    [ $have_stb = 1 ] && expect "stb_ds fa" "$stb_want" "$out/stb_ds_fastalloc" 200000
fi
# A fastalloc bug the stb_ds example ran into by chance (examples/INTEGRATIONS.md, "Fixed"):
# fa_heap_realloc of a huge block that must move to a new 4 GiB window of the page map hung.
if build repro_heap_huge_realloc "$CC" -std=c11 $CFLAGS "$ex/stb_ds/repro_heap_huge_realloc.c" -o "$out/repro_heap_huge_realloc"; then
    expect "huge realloc moving to a new page-map leaf, thread heap" "realloc returned a block" "$out/repro_heap_huge_realloc" thread
    expect "huge realloc moving to a new page-map leaf, first-class heap" "realloc returned a block" \
        "$out/repro_heap_huge_realloc"
fi

# ---- C++: fa::allocator<T>, fa::heap_resource, fa::arena_resource (examples/cpp/fastalloc_cpp.hpp) ----
# cpp_check prints its own "N passed, N failed"; here each build and each clean run is one check.
cpp_run() {   # LABEL BINARY
    timeout 300 "$2" >"$out/run.out" 2>&1
    local rc=$? line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out/run.out" | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$line" ] && [ "${line#* passed, }" = "0 failed" ]; then ok "$1: $line"; else bad "$1: exit $rc, ${line:-no result line}"; grep FAIL "$out/run.out" | head; fi
}
for cxx in "$CXX" "$CLANGXX"; do
    for std in c++11 c++17 c++20; do
        name=cpp_check_$(basename "$cxx")_$std
        build "$name" "$cxx" -std=$std $CXXFLAGS "$ex/cpp/cpp_check.cpp" -o "$out/$name" && cpp_run "$name" "$out/$name"
    done
done
build cpp_check_asan_debug "$CXX" -std=c++17 $CXXFLAGS -O1 -DFASTALLOC_DEBUG -fsanitize=address,undefined -fno-sanitize-recover=all \
    "$ex/cpp/cpp_check.cpp" -o "$out/cpp_check_asan_debug" && cpp_run "cpp_check ASan+UBSan, debug build" "$out/cpp_check_asan_debug"
build cpp_noexcept_nortti "$CXX" -std=c++17 $CXXFLAGS -fno-exceptions -fno-rtti -fsyntax-only -x c++ - <<'EOF'
#include "fastalloc.h"
#include "fastalloc_cpp.hpp"
#include <vector>
int use(fa::heap& h) {
    fa::heap_resource r(h);
    fa::arena_resource a(h.get());
    std::pmr::vector<int> v({1, 2}, &r), w({3}, &a);
    std::vector<int, fa::allocator<int>> x(fa::allocator<int>{h});
    x.push_back(4);
    return v[1] + w[0] + x[0];
}
EOF
# The C++ section is in fastalloc.h itself; with FASTALLOC_NO_CPP a C++ includer does without it
# (no C++ standard library), and a C program never sees it.
build cpp_without_section "$CXX" -std=c++17 $CXXFLAGS -DFASTALLOC_NO_CPP -fsyntax-only -x c++ - <<'EOF'
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#ifdef FASTALLOC_CPP_INCLUDED
#error "FASTALLOC_NO_CPP: namespace fa must stay out"
#endif
int use() { void* p = fa_malloc(8); fa_free(p); return p != nullptr; }
EOF
cpp_bench_want="300 frames, checksum 141419550"
for cxx in "$CXX" "$CLANGXX"; do
    name=cpp_bench_$(basename "$cxx")
    if build "$name" "$cxx" -std=c++17 $CXXFLAGS "$ex/cpp/cpp_bench.cpp" -o "$out/$name"; then
        for mode in monotonic heap arena newdelete; do expect "$name $mode" "$cpp_bench_want" "$out/$name" $mode 300; done
    fi
done

# ---- the job system: against every allocator, then per-worker heaps reset per frame -----------------
jobs_want="40 frames of 512 tasks, checksum 304134992, 0 bad"
build jobs_fa "$CC" -std=c11 $CFLAGS -DJOBS_FASTALLOC "$ex/jobs/jobs.c" -o "$out/jobs_fa"
build jobs_sys "$CC" -std=c11 $CFLAGS "$ex/jobs/jobs.c" -o "$out/jobs_sys"
build jobs_tsan "$CC" -std=c11 $CFLAGS -O1 -DJOBS_FASTALLOC -fsanitize=thread "$ex/jobs/jobs.c" -o "$out/jobs_tsan" && {
    expect "jobs (TSan) reset, 4 workers" "10 frames of 512 tasks, checksum 75758215, 0 bad" "$out/jobs_tsan" reset 10 4
    expect "jobs (TSan) free, 3 workers" "10 frames of 512 tasks, checksum 75758215, 0 bad" "$out/jobs_tsan" free 10 3
}
build jobs_debug "$CC" -std=c11 $DEBUG -DJOBS_FASTALLOC "$ex/jobs/jobs.c" -o "$out/jobs_debug" &&
    expect "jobs (debug build) reset, 3 workers" "$jobs_want" "$out/jobs_debug" reset 40 3
build libfastalloc.so "$CC" -std=c11 -O2 -g -pthread -Wall -Wextra -Werror -fPIC -shared "$ex/override/libfastalloc.c" -o "$out/libfastalloc.so"
expect "jobs fa-compiled reset" "$jobs_want" "$out/jobs_fa" reset 40
# shellcheck source=../bench/peers.sh
source "$root/bench/peers.sh"
peers_setup "$bench" "$out/libfastalloc.so" "$out/jobs_sys" free 1 1
for i in "${!A_NAME[@]}"; do
    if [ "${A_KIND[$i]}" = fa ]; then
        expect "jobs ${A_NAME[$i]} free" "$jobs_want" "$out/jobs_fa" free 40
    else
        expect "jobs ${A_NAME[$i]} free" "$jobs_want" env ${A_LIB[$i]:+LD_PRELOAD=${A_LIB[$i]}} "$out/jobs_sys" free 40
    fi
done

# ---- --bench: one hyperfine run per example ----------------------------------------------------------
if [ $bench = 1 ]; then
    need hyperfine /usr/bin/hyperfine || exit 1
    need valgrind /usr/bin/valgrind || exit 1
    RUNS=${RUNS:-10}
    : >"$out/rss.tsv"
    rm -f "$out"/{lua,sqlite,stb_ds,cpp,jobs}.json
    # peakrss COMMAND...: its peak RSS in KiB, measured from a small parent (a fork of a big one,
    # python or hyperfine, would count the parent's pages as the child's before exec)
    cat >"$out/peakrss.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char** argv) {
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (argc < 2 || pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    printf("%ld\n", ru.ru_maxrss);
    return 0;
}
C
    "$CC" -O2 -Wall -Wextra -Werror "$out/peakrss.c" -o "$out/peakrss" || exit 1
    # instructions COMMAND... SIZE: instructions of COMMAND... SIZE/10 under callgrind (exactly
    # repeatable where the clock is not; threads run one at a time there); empty if it cannot run
    instructions() {
        local n=$(($# - 1))
        valgrind --tool=callgrind --trace-children=yes --callgrind-out-file=/dev/null "${@:1:n}" $((${!#} / 10)) \
            >/dev/null 2>"$out/callgrind.log" || return 0
        grep -o 'refs: *[0-9,]*' "$out/callgrind.log" | tail -n 1 | tr -d ', ' | cut -d: -f2
    }
    hf() {   # NAME then LABEL|COMMAND pairs: one hyperfine run, then each command's peak RSS and instructions
        local name=$1 args=() lc
        shift
        for lc in "$@"; do args+=(--command-name "${lc%%|*}" "${lc#*|}"); done
        if ! hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$out/$name.json" "${args[@]}" >&2; then
            bad "bench $name: hyperfine failed"
            rm -f "$out/$name.json"
            return 0
        fi
        for lc in "$@"; do
            # shellcheck disable=SC2086
            printf '%s\t%s\t%s\t%s\n' "$name" "${lc%%|*}" "$("$out/peakrss" ${lc#*|} 2>/dev/null)" \
                "$(instructions ${lc#*|})" >>"$out/rss.tsv"
        done
    }
    [ $have_lua = 1 ] && hf lua "fastalloc heap|env -u LD_PRELOAD $out/lua_fastalloc fa $ex/lua/workload.lua 200000" \
        "luaL_newstate (glibc)|env -u LD_PRELOAD $out/lua_fastalloc default $ex/lua/workload.lua 200000"
    [ $have_sqlite = 1 ] && hf sqlite "SQLITE_CONFIG_MALLOC fastalloc|env -u LD_PRELOAD $out/sqlite_fastalloc fa 100000" \
        "SQLite default (glibc)|env -u LD_PRELOAD $out/sqlite_fastalloc default 100000"
    [ $have_stb = 1 ] && hf stb_ds "fastalloc heap|env -u LD_PRELOAD $out/stb_ds_fastalloc 1000000" \
        "libc realloc (glibc)|env -u LD_PRELOAD $out/stb_ds_libc 1000000"
    hf cpp "monotonic_buffer_resource|env -u LD_PRELOAD $out/cpp_bench_g++ monotonic 5000" \
        "fa::heap_resource + reset|env -u LD_PRELOAD $out/cpp_bench_g++ heap 5000" \
        "fa::arena_resource|env -u LD_PRELOAD $out/cpp_bench_g++ arena 5000" \
        "new_delete_resource (glibc)|env -u LD_PRELOAD $out/cpp_bench_g++ newdelete 5000"
    jobs=("fa-compiled, per-worker heaps reset per frame|env -u LD_PRELOAD $out/jobs_fa reset 1000")
    for i in "${!A_NAME[@]}"; do
        if [ "${A_KIND[$i]}" = fa ]; then jobs+=("fa-compiled|env -u LD_PRELOAD $out/jobs_fa free 1000")
        elif [ -n "${A_LIB[$i]}" ]; then jobs+=("${A_NAME[$i]}|env LD_PRELOAD=${A_LIB[$i]} $out/jobs_sys free 1000")
        else jobs+=("${A_NAME[$i]}|env -u LD_PRELOAD $out/jobs_sys free 1000"); fi
    done
    hf jobs "${jobs[@]}"
    python3 - "$out" <<'EOF' | tee "$out/bench.md"
import json, sys, os
out = sys.argv[1]
rss, ins = {}, {}
for line in open(os.path.join(out, "rss.tsv")):
    name, label, kib, n = line.rstrip("\n").split("\t")
    rss[(name, label)] = int(kib) if kib else None
    ins[(name, label)] = int(n) if n else None
def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"
for name in ["lua", "sqlite", "stb_ds", "cpp", "jobs"]:
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        continue
    res = json.load(open(path))["results"]
    first = res[0]
    print(f"\n{name}: one hyperfine run, {len(first['times'])} runs each; ratios to the first row; "
          "instructions: callgrind at a tenth of the size")
    print("| configuration | median ms | ratio | CPU (user+sys) ratio | instructions ratio | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in res:
        key, key0 = (name, r["command"]), (name, first["command"])
        mib = f"{rss[key] / 1024:.1f}" if rss.get(key) else "n/a"
        print(f"| {r['command']} | {r['median'] * 1000:.0f} | {ratio(r['median'], first['median'])} "
              f"| {ratio(r['user'] + r['system'], first['user'] + first['system'])} "
              f"| {ratio(ins.get(key), ins.get(key0))} | {mib} |")
EOF
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
