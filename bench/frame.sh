#!/usr/bin/env bash
# bench/frame.sh BINDIR [OUTDIR] -- the engine pattern (bench/frame.c): per-frame allocations
# thrown away every frame. One hyperfine run compares, side by side:
#   fastalloc-reset    a first-class heap, fa_heap_reset per frame
#   fastalloc-destroy  a heap made and destroyed per frame
#   fastalloc-free     every object fa_free'd (the same allocator without heaps), compiled in
#   fa-preload         every object freed, libfastalloc.so preloaded into the system build (like the
#                      peers: the like-for-like row for the free-each peers)
#   mimalloc-heap      mi_heap_new/mi_heap_destroy per frame (when libmimalloc-dev is installed:
#                      frame.c is built here with -DBENCH_MIMALLOC_HEAP -lmimalloc, mimalloc 2)
#   glibc and the peers of bench/peers.sh (mimalloc3, rpmalloc2, snmalloc when there; mimalloc2,
#                      jemalloc, tcmalloc)   every object freed (what they offer through malloc)
# Then instructions per object under callgrind for the three fastalloc forms (exactly repeatable).
# Writes OUTDIR/frame.md (default bench/results). env: RUNS=10; QUICK=1: a smoke run, tiny N, prints
# "N passed, N failed" (each command that exits 0 with the common checksum passes); ALLOCATORS and
# the *_SO variables as for bench/suite.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINDIR=$(realpath "${1:?usage: bench/frame.sh BINDIR [OUTDIR]}")
OUTDIR=${2:-$here/results}
mkdir -p "$OUTDIR"
FA_BIN=$BINDIR/frame_fa
SYS_BIN=$BINDIR/frame_sys
[ -x "$FA_BIN" ] && [ -x "$SYS_BIN" ] || { echo "frame.sh: build $FA_BIN and $SYS_BIN first (make bench-build)" >&2; exit 1; }

# QUICK (make test) installs nothing and runs whatever peers are there, like bench/suite.sh.
source "$here/peers.sh"
peers_setup 0 "$BINDIR/../lib/libfastalloc.so" "$SYS_BIN" pingpong 1
names=(); preload=(); bins=(); skipped=("${A_SKIPPED[@]+"${A_SKIPPED[@]}"}")
for i in "${!A_NAME[@]}"; do
    [ "${A_KIND[$i]}" = fa ] && continue     # fa-compiled: the fastalloc-* rows below
    names+=("${A_NAME[$i]}"); preload+=("${A_LIB[$i]}"); bins+=("$SYS_BIN")
done

# label|preload|binary|workload
runs=("fastalloc-reset||$FA_BIN|frame-reset" "fastalloc-destroy||$FA_BIN|frame-destroy" "fastalloc-free||$FA_BIN|frame-free")
MI_BIN=$BINDIR/frame_mi
if [ -f /usr/include/mimalloc.h ] && { [ -x "$MI_BIN" ] || ${CC:-gcc} -O2 -DNDEBUG -g -pthread -Wall -Wextra -Werror \
        -DBENCH_MIMALLOC_HEAP "$here/frame.c" -o "$MI_BIN" -lmimalloc; }; then
    runs+=("mimalloc-heap||$MI_BIN|frame-destroy")
else
    echo "frame.sh: no mimalloc-heap run (needs libmimalloc-dev)" >&2
fi
for i in "${!names[@]}"; do runs+=("${names[$i]}|${preload[$i]}|${bins[$i]}|frame-free"); done

if [ "${QUICK:-0}" = 1 ]; then
    pass=0; fail=0; want=""
    for r in "${runs[@]}"; do
        IFS='|' read -r label lib bin w <<<"$r"
        if out=$(env ${lib:+LD_PRELOAD=$lib} "$bin" "$w" 20000 2>&1) && { [ -z "$want" ] || [ "$out" = "$want" ]; }; then
            want=$out; pass=$((pass + 1)); echo "PASS  $label"
        else
            fail=$((fail + 1)); echo "FAIL  $label: $out"
        fi
    done
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
fi

command -v hyperfine >/dev/null || { echo "frame.sh: hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
cmd=()
for r in "${runs[@]}"; do
    IFS='|' read -r label lib bin w <<<"$r"
    if [ -n "$lib" ]; then cmd+=(--command-name "$label" "env LD_PRELOAD=$lib $bin $w"); else cmd+=(--command-name "$label" "env -u LD_PRELOAD $bin $w"); fi
done
hyperfine -N --runs "${RUNS:-10}" --warmup 2 --export-json "$OUTDIR/frame.json" "${cmd[@]}" >&2

ir() {   # instructions of `BIN WORKLOAD N`, counted by callgrind
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | grep -o 'refs: *[0-9,]*' | tr -d ', ' | cut -d: -f2
}
instr=()
for w in frame-reset frame-destroy frame-free; do
    a=$(ir "$FA_BIN" "$w" 2000000); b=$(ir "$FA_BIN" "$w" 200000)
    instr+=("$w $(( (a - b) / 1800000 ))")
done

python3 - "$OUTDIR/frame.json" "$OUTDIR/frame.md" "${instr[@]}" <<'EOF'
import json, sys, statistics
res = json.load(open(sys.argv[1]))["results"]
base = next(r for r in res if r["command"] == "fastalloc-reset")["median"]
out = ["| allocator | how a frame ends | median ms | time / fastalloc-reset |", "|---|---|---:|---:|"]
how = {"fastalloc-reset": "fa_heap_reset", "fastalloc-destroy": "fa_heap_destroy + fa_heap_new",
       "fastalloc-free": "fa_free each (compiled in)", "fa-preload": "free each (libfastalloc.so preloaded)",
       "mimalloc-heap": "mi_heap_destroy + mi_heap_new (mimalloc 2)"}
for r in res:
    out.append(f"| {r['command']} | {how.get(r['command'], 'free each')} | {r['median']*1000:.1f} | {r['median']/base:.2f}x |")
out.append("")
out.append("Instructions per object (callgrind, (Ir(N=2M) - Ir(N=200k)) / 1.8M, allocation + tag + check + release):")
out.append("")
for item in sys.argv[3:]:
    w, n = item.split()
    out.append(f"- {w}: {n}")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
[ ${#skipped[@]} -eq 0 ] || printf 'frame.sh: skipped %s\n' "${skipped[@]}" >&2
