#!/usr/bin/env bash
# bench/frame.sh BINDIR [OUTDIR] -- memory released in bulk (bench/frame.c). One hyperfine run
# times, side by side, three workloads:
#   frame   frames of 2000 objects of 16..512 B (and some 4 KiB) thrown away every frame
#   small   frames of 2000 objects of 16..128 B
#   tiny    frames of 50 objects of 16..128 B (a request's or a task's worth)
#   calls   nested calls of an interpreter, each frame's objects released when its call returns
# each the ways it can end:
#   fastalloc-arena    a bump arena: fa_arena_reset per frame; for calls, a tiered fixed arena per
#                      call frame cut from a stack arena, rewound on return (reruns one tier up)
#   fastalloc-reset    a first-class heap, fa_heap_reset per frame
#   fastalloc-destroy  a heap made and destroyed per frame
#   fastalloc-free     every object fa_free'd (the same allocator without heaps), compiled in
#   mimalloc-heap      mi_heap_new/mi_heap_destroy per frame (when libmimalloc-dev is installed:
#                      frame.c is built here with -DBENCH_MIMALLOC_HEAP -lmimalloc, mimalloc 2)
#   fa-preload         every object freed, libfastalloc.so preloaded into the system build (like the
#                      peers: the like-for-like row for the free-each peers)
#   glibc and the peers of bench/peers.sh (mimalloc3, rpmalloc2, snmalloc when there; mimalloc2,
#                      jemalloc, tcmalloc)   every object freed (what they offer through malloc)
#   harness            no allocator at all (a pointer bumped through a static buffer): what the
#                      workload's own work (sizes, tags, checks) costs, frames only
# Then instructions per object under callgrind for the fastalloc forms and the harness (exactly
# repeatable; minus the harness: the allocator's share).
# Writes OUTDIR/frame.md (default bench/results). env: RUNS=10; QUICK=1: a smoke run, tiny N, prints
# "N passed, N failed" (each command that exits 0 with its workload's common checksum passes);
# ALLOCATORS and the *_SO variables as for bench/suite.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINDIR=$(realpath "${1:?usage: bench/frame.sh BINDIR [OUTDIR]}")
OUTDIR=${2:-$here/results}
FA_BIN=$BINDIR/frame_fa
SYS_BIN=$BINDIR/frame_sys
[ -x "$FA_BIN" ] && [ -x "$SYS_BIN" ] || { echo "frame.sh: build $FA_BIN and $SYS_BIN first (make bench-build)" >&2; exit 1; }

# QUICK (make test) installs nothing and runs whatever peers are there, like bench/suite.sh.
source "$here/peers.sh"
peers_setup 0 "$BINDIR/../lib/libfastalloc.so" "$SYS_BIN" pingpong 1
names=(); preload=(); skipped=("${A_SKIPPED[@]+"${A_SKIPPED[@]}"}")
for i in "${!A_NAME[@]}"; do
    [ "${A_KIND[$i]}" = fa ] && continue     # fa-compiled: the fastalloc-* rows below
    names+=("${A_NAME[$i]}"); preload+=("${A_LIB[$i]}")
done

MI_BIN=$BINDIR/frame_mi
have_mi=0
if [ -f /usr/include/mimalloc.h ]; then
    # rebuilt whenever frame.c or common.h is newer: an old one may lack workloads
    if [ -x "$MI_BIN" ] && [ "$MI_BIN" -nt "$here/frame.c" ] && [ "$MI_BIN" -nt "$here/common.h" ] ||
       ${CC:-gcc} -std=c11 -O2 -DNDEBUG -g -pthread -Wall -Wextra -Werror -DBENCH_MIMALLOC_HEAP \
           "$here/frame.c" -o "$MI_BIN" -lmimalloc; then
        have_mi=1
    fi
fi
[ $have_mi = 1 ] || echo "frame.sh: no mimalloc-heap run (needs libmimalloc-dev)" >&2

# label|preload|binary|workload; the workload's first word (frame, small, calls) is its group
runs=()
for g in frame small tiny; do
    runs+=("fastalloc-arena||$FA_BIN|$g-arena" "fastalloc-reset||$FA_BIN|$g-reset"
           "fastalloc-destroy||$FA_BIN|$g-destroy" "fastalloc-free||$FA_BIN|$g-free")
    [ $have_mi = 1 ] && runs+=("mimalloc-heap||$MI_BIN|$g-destroy")
    for i in "${!names[@]}"; do runs+=("${names[$i]}|${preload[$i]}|$SYS_BIN|$g-free"); done
    runs+=("harness||$FA_BIN|$g-bump")
done
runs+=("fastalloc-arena||$FA_BIN|calls-arena" "fastalloc-free||$FA_BIN|calls-free")
for i in "${!names[@]}"; do runs+=("${names[$i]}|${preload[$i]}|$SYS_BIN|calls-free"); done

if [ "${QUICK:-0}" = 1 ]; then
    pass=0; fail=0
    declare -A want
    err=$(mktemp); trap 'rm -f "$err"' EXIT
    for r in "${runs[@]}"; do
        IFS='|' read -r label lib bin w <<<"$r"
        g=${w%%-*}
        if out=$(env ${lib:+LD_PRELOAD=$lib} "$bin" "$w" 20000 2>"$err") && [ "${want[$g]:-$out}" = "$out" ]; then
            want[$g]=$out; pass=$((pass + 1)); echo "PASS  $label $w"
        else
            fail=$((fail + 1)); echo "FAIL  $label $w: $out $(cat "$err")"
        fi
    done
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
fi

mkdir -p "$OUTDIR"
command -v hyperfine >/dev/null || { echo "frame.sh: hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }   # jiffies, all cores
busy0=$(cpu_busy); wall0=$(date +%s.%N)
cmd=()
for r in "${runs[@]}"; do
    IFS='|' read -r label lib bin w <<<"$r"
    if [ -n "$lib" ]; then cmd+=(--command-name "$label $w" "env LD_PRELOAD=$lib $bin $w")
    else cmd+=(--command-name "$label $w" "env -u LD_PRELOAD $bin $w"); fi
done
hyperfine -N --runs "${RUNS:-10}" --warmup 2 --export-json "$OUTDIR/frame.json" "${cmd[@]}" >&2
busy1=$(cpu_busy); wall1=$(date +%s.%N)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
reruns=$("$FA_BIN" calls-arena 2>&1 >/dev/null | sed -n 's/^reruns: //p')

ir() {   # instructions of `BIN WORKLOAD N`, counted by callgrind
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | grep -o 'refs: *[0-9,]*' | tr -d ', ' | cut -d: -f2
}
instr=()
for w in {frame,small,tiny}-{bump,arena,reset,destroy,free} calls-arena calls-free; do
    a=$(ir "$FA_BIN" "$w" 2000000); b=$(ir "$FA_BIN" "$w" 200000)
    instr+=("$w $(( (a - b) / 1800000 ))")
done

MACHINE="$(sed -n '/^model name/{s/^[^:]*: *//p;q}' /proc/cpuinfo), $(nproc) cores, $(date '+%Y-%m-%d %H:%M %Z')" \
LOAD="load average $load_start at start, $load_end at end (includes this run)" RUNS="${RUNS:-10}" \
HDR=$(sha256sum "$here/../fastalloc.h" | cut -c1-12) RERUNS="$reruns" \
BUSY="$(( busy1 - busy0 )) $(getconf CLK_TCK) $wall0 $wall1 $(nproc)" \
python3 - "$OUTDIR/frame.json" "$OUTDIR/frame.md" "${instr[@]}" <<'EOF'
import json, os, sys
results = json.load(open(sys.argv[1]))["results"]
res = {r["command"]: r["median"] * 1000 for r in results}
cpu = {r["command"]: (r["user"] + r["system"]) * 1000 for r in results}   # means: hyperfine keeps no median
# what other processes took during the hyperfine run: the machine's busy CPU time minus the runs' own
# (user + system of each timed run, and as much again for the 2 warm-ups)
jiffies, hz, w0, w1, ncpu = os.environ["BUSY"].split()
wall = float(w1) - float(w0)
own = sum((r["user"] + r["system"]) * (len(r["times"]) + 2) for r in results)
others = max(0.0, int(jiffies) / int(hz) - own)
noise = (f"during it other processes used {others / wall:.2f} of the {ncpu} cores on average "
         f"({100 * others / (wall * int(ncpu)):.0f} % of the machine)")
ir = dict(item.split() for item in sys.argv[3:])
def ms(label, w, t=None): return (t or res).get(f"{label} {w}")
out = ["# Memory released in bulk: frames and nested calls (bench/frame.sh)", "",
       f"{os.environ['MACHINE']}; fastalloc.h {os.environ['HDR']}; one hyperfine run, "
       f"{os.environ['RUNS']} runs + 2 warm-ups per command, medians; {os.environ['LOAD']}; {noise}. "
       "Wall-clock numbers on a shared 2-core VM move by 10-30 % between runs: compare the ratios "
       "within this run; the instruction counts at the end are exact.", "",
       "## Frames of objects thrown away at the end of each frame", "",
       "frame: 2000 objects of 16..512 B skewed small and one in 50 of 4 KiB, 10 M objects; small: 2000 objects of "
       "16..128 B, 20 M objects; tiny: 50 objects of 16..128 B (a request's or a task's worth), 10 M objects. "
       "Every object is written (tags at both ends) and checked before the frame ends. "
       "`harness`: the same work with no allocator at all (a pointer bumped through a static buffer), "
       "the floor every row stands on. Wall-clock medians first; then the CPU time (user + system, mean "
       "of the runs), which time slices lost to other processes do not inflate.", "",
       "| allocator | how a frame ends | frame ms | / reset | small ms | / reset | tiny ms | / reset |",
       "|---|---|---:|---:|---:|---:|---:|---:|"]
how = {"fastalloc-arena": "fa_arena_reset (fa_arena_new, 1 MiB chunks)", "fastalloc-reset": "fa_heap_reset",
       "fastalloc-destroy": "fa_heap_destroy + fa_heap_new", "fastalloc-free": "fa_free each (compiled in)",
       "fa-preload": "free each (libfastalloc.so preloaded)",
       "mimalloc-heap": "mi_heap_destroy + mi_heap_new (mimalloc 2)", "harness": "no allocator (bump, no checks for room)"}
kind = {"fastalloc-arena": "arena", "fastalloc-reset": "reset", "fastalloc-destroy": "destroy",
        "mimalloc-heap": "destroy", "harness": "bump"}
labels = []
for c in res:
    label, w = c.split()
    if w.startswith("frame") and label not in labels: labels.append(label)
def frame_rows(t, with_how):
    for label in labels:
        row = f"| {label} |" + (f" {how.get(label, 'free each')} |" if with_how else "")
        for g in ("frame", "small", "tiny"):
            v, base = ms(label, f"{g}-{kind.get(label, 'free')}", t), ms("fastalloc-reset", f"{g}-reset", t)
            row += " | |" if v is None else f" {v:.1f} | {v / base:.2f}x |"
        out.append(row)
frame_rows(res, True)
out += ["", "| allocator | frame CPU ms | / reset | small CPU ms | / reset | tiny CPU ms | / reset |",
        "|---|---:|---:|---:|---:|---:|---:|"]
frame_rows(cpu, False)
def share(w): return int(ir[w]) - int(ir[w.split("-")[0] + "-bump"])
speed = ", ".join(f"{ms('fastalloc-reset', g + '-reset') / ms('fastalloc-arena', g + '-arena'):.2f}x "
                  f"({ms('fastalloc-reset', g + '-reset', cpu) / ms('fastalloc-arena', g + '-arena', cpu):.2f}x CPU, {g})"
                  for g in ("frame", "small", "tiny"))
instr_share = ", ".join(f"{share(g + '-reset')} against {share(g + '-arena')} "
                        f"({share(g + '-reset') / share(g + '-arena'):.1f}x, {g})" for g in ("frame", "small", "tiny"))
out += ["", f"fa_arena_reset frames against fa_heap_reset frames, whole frame (wall-clock, CPU time): {speed} faster. "
        f"The allocator's own instructions per object (below, minus the harness): {instr_share}. "
        "fa_heap_reset costs about 12,000 instructions per frame of 50 objects (callgrind of tiny-reset: "
        "most of it fa__page_extend rebuilding the free list of each page the frame touches, up to 8 KiB "
        "of blocks, then fa__queue_update_direct and the reset itself), which 50 objects do not amortise; "
        "fa_arena_reset sets a pointer.", "",
        "## Nested calls: an interpreter's call frames (10 M objects)", "",
        "A call makes locals, an analysis table, an operand stack, 2..9 scratch objects and (one call in 16) "
        "a 1..48 KiB data-dependent scratch, runs 0..2 nested calls (depth <= 8), checks its objects and "
        "releases them when it returns. fastalloc-arena: budgets of 4..64 KiB from the bytecode-size estimate, "
        f"cut from a stack arena, a fixed arena per frame, rerun one tier up when full ({os.environ['RERUNS']} reruns "
        "in this run, included in the time).", "",
        "| allocator | a call's memory | ms | / fastalloc-arena | CPU ms | / fastalloc-arena |",
        "|---|---|---:|---:|---:|---:|"]
base, cbase = ms("fastalloc-arena", "calls-arena"), ms("fastalloc-arena", "calls-arena", cpu)
how_calls = {"fastalloc-arena": "tiered fixed arena per frame, stack rewound on return",
             "fastalloc-free": "fa_malloc / fa_free each (compiled in)", "fa-preload": "malloc / free each (libfastalloc.so preloaded)"}
for c, t in res.items():
    label, w = c.split()
    if w.startswith("calls"):
        out.append(f"| {label} | {how_calls.get(label, 'malloc / free each')} | {t:.1f} | {t / base:.2f}x "
                   f"| {cpu[c]:.1f} | {cpu[c] / cbase:.2f}x |")
out += ["", "## Instructions per object (callgrind, fastalloc compiled in)", "",
        "(Ir(N=2M) - Ir(N=200k)) / 1.8M: allocation + tags + checks + release; *allocator*: minus the harness "
        "(frame-bump, small-bump, tiny-bump), the allocator's own share.", "",
        "| workload | Ir / object | allocator |", "|---|---:|---:|"]
for w, n in ir.items():
    alloc = "" if w.endswith("bump") or w.startswith("calls") else str(share(w))
    out.append(f"| {w} | {n} | {alloc} |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
[ ${#skipped[@]} -eq 0 ] || printf 'frame.sh: skipped %s\n' "${skipped[@]}" >&2
