#!/usr/bin/env bash
# bench/suite_instr.sh -- instructions per operation (callgrind Ir) of the single-thread suite
# workloads, fastalloc (preloaded and compiled in) against glibc and each peer. Behind
# `make bench-instr`.
#
# usage: bench/suite_instr.sh BINDIR     (BINDIR holds w_*_fa and w_*_sys)
# env:   SCALE=100   churn workloads run with N = default N / SCALE (callgrind is ~50x slower);
#                    the others, whose ops are far larger, with default N / (SCALE/10)
#        JOBS=nproc  callgrind runs in parallel
#        OUT=bench/results   instr.md goes there
#        ONLY=REGEX  only the workloads whose name matches
#        ALLOCATORS, FASTALLOC_SO, MIMALLOC3_SO, RPMALLOC2_SO, MIMALLOC_SO, JEMALLOC_SO,
#        TCMALLOC_SO   as for bench/suite.sh (bench/peers.sh). snmalloc does not run under
#                    valgrind (its counts read 0): it is left out here, time it with make bench.
#
# Per allocator and workload two runs: N and the baseline N = 0 (process start, allocator start-up
# when it is eager, the harness's fixed work); per op = (Ir(N) - Ir(0)) / N. Callgrind does not
# replace malloc (unlike memcheck), so LD_PRELOAD of libfastalloc.so and the peers into the system
# build works as in bench/suite.sh and every allocator runs the same harness code, except the
# fa-compiled build, where fa_* may be inlined into it. Ratios are to fa-preload (like for like).
# The harness column is the glibc run's self cost inside the workload binary (tagging, checks,
# RNG): what any allocator pays on top of its own instructions.
# calloc-huge is left out (peers that clear each GiB would need minutes under callgrind); threaded
# workloads too (instruction counts say little about contention).
set -uo pipefail
die() { echo "suite_instr.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: bench/suite_instr.sh BINDIR"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINDIR=$(realpath "$1") || die "no directory $1"
OUT=${OUT:-$here/results}
SCALE=${SCALE:-100}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$OUT"

if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >&2 ||
            { apt-get update -qq >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >&2; }
    fi
    command -v valgrind >/dev/null || die "valgrind is required: sudo apt-get install -y valgrind"
fi
command -v python3 >/dev/null || die "python3 is required"

[ -x "$BINDIR/w_churn_sys" ] || die "missing $BINDIR/w_churn_sys (make bench-build)"
source "$here/peers.sh"
peers_setup 0 "$BINDIR/../lib/libfastalloc.so" "$BINDIR/w_churn_sys" pingpong-16 1
peers_drop snmalloc "does not run under valgrind (its instruction counts read 0); timed by make bench only"
names=("${A_NAME[@]}"); libs=("${A_LIB[@]}"); kinds=("${A_KIND[@]}"); descs=("${A_DESC[@]}")
skipped=("${A_SKIPPED[@]+"${A_SKIPPED[@]}"}")
[ ${#names[@]} -ge 2 ] || die "need at least two allocators (have: ${names[*]})"

# "program workload what-an-op-is [divisor]": N = default N / divisor (default: SCALE for the
# churn program, SCALE/10 for the rest)
workloads=(
    "w_churn pingpong-16 malloc+free" "w_churn pingpong-256 malloc+free"
    "w_churn lifo-64 malloc+free"     "w_churn lifo-256 malloc+free"
    "w_churn fifo-16 malloc+free"     "w_churn fifo-256 malloc+free"
    "w_churn pool malloc+free"        "w_churn multisize malloc+free"
    "w_churn multipage-16 malloc+free" "w_churn multipage-64 malloc+free"
    "w_churn multipage-256 malloc+free"
    "w_zero calloc-small calloc+free"  "w_zero calloc-fresh calloc+free"
    "w_zero calloc-medium calloc+free" "w_zero calloc-large calloc+free"
    "w_zero realloc-vector push"       "w_zero string-append realloc"
    "w_zero rezalloc-chain rezalloc"
    "w_app realloc-grow-1 realloc"     "w_app realloc-grow-4 realloc"
    "w_frag frag initial-block"        "w_frag hashmap word"
    "w_app interp object"
)
declare -A defn
for p in w_churn w_zero w_frag w_app; do
    [ -x "$BINDIR/${p}_fa" ] && [ -x "$BINDIR/${p}_sys" ] || die "missing $BINDIR/${p}_fa or _sys (make bench-build)"
    while read -r w n; do defn[$p.$w]=$n; done < <("$BINDIR/${p}_sys" list)
done

tmp=$(mktemp -d /tmp/fa-instr.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
run_one() {   # run_one I PROG W N
    local i=$1 prog=$2 w=$3 n=$4 f
    f="$tmp/${names[$i]}.$w.$n"
    local -a e=(env -u LD_PRELOAD)
    [ -n "${libs[$i]}" ] && e=(env "LD_PRELOAD=${libs[$i]}")
    if ! "${e[@]}" valgrind -q --tool=callgrind --callgrind-out-file="$f.out" \
            "$BINDIR/${prog}_${kinds[$i]}" "$w" "$n" > "$f.stdout" 2> "$f.stderr"; then
        echo "suite_instr.sh: FAILED: ${names[$i]} $w $n" >&2; head -n 5 "$f.stderr" >&2
        return 1
    fi
    if [ "${names[$i]}" = glibc ]; then   # harness: self cost inside the workload binary
        callgrind_annotate --threshold=100 "$f.out" 2>/dev/null |
            awk -v ob="[$BINDIR/${prog}_sys]" 'index($0, ob) { gsub(",", "", $1); s += $1 } END { print s + 0 }' > "$f.harness"
    fi
}

spec_file=$tmp/specs
: > "$spec_file"
echo "suite_instr.sh: ${#names[@]} allocators (${names[*]}) x ${#workloads[@]} workloads x 2 runs, $JOBS at a time" >&2
status=0
t0=$(date +%s)
for spec in "${workloads[@]}"; do
    read -r prog w what div <<< "$spec"
    [ -n "${ONLY:-}" ] && ! [[ $w =~ $ONLY ]] && continue
    sc=$SCALE; [ "$prog" = w_churn ] || sc=$(( SCALE / 10 > 0 ? SCALE / 10 : 1 ))
    [ -n "$div" ] && sc=$div
    n=$(( ${defn[$prog.$w]} / sc )); [ "$n" -ge 1 ] || n=1
    printf '%s %s %s\n' "$w" "$n" "$what" >> "$spec_file"
    for i in "${!names[@]}"; do
        for k in "$n" 0; do
            while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || status=1; done
            run_one "$i" "$prog" "$w" "$k" &
        done
    done
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || status=1; done
[ $status -eq 0 ] || die "some callgrind runs failed"

TMP="$tmp" NAMES="${names[*]}" SPECS="$spec_file" SCALE="$SCALE" OUTMD="$OUT/instr.md" \
DESCS="$(printf '%s\n' "${descs[@]}")" SKIPPED="$(printf '%s\n' "${skipped[@]+"${skipped[@]}"}")" \
ELAPSED=$(( $(date +%s) - t0 )) VG="$(valgrind --version)" python3 - <<'PY'
import math, os
tmp, names = os.environ["TMP"], os.environ["NAMES"].split()
specs = [l.split() for l in open(os.environ["SPECS"]) if l.strip()]
base = next((a for a in ("fa-preload", "fa-compiled") if a in names), names[0])

def ir(a, w, n):
    with open("%s/%s.%s.%d.out" % (tmp, a, w, n)) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise SystemExit("no totals for %s %s %d" % (a, w, n))

def out(a, w, n):
    return open("%s/%s.%s.%d.stdout" % (tmp, a, w, n)).read().strip()

def fmt(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v

L = ["# Instructions per operation (callgrind)\n",
     "`make bench-instr` (bench/suite_instr.sh, %s, %s s): Ir per op = (Ir(N) − Ir(N=0)) / N, N = default / %s "
     "(churn) or default / %s (the rest). "
     "In parentheses the ratio to %s (> 1: fastalloc executes fewer instructions). *harness*: "
     "the workload's own instructions (glibc run, self cost in the workload binary), included in every "
     "column. fa-preload and every peer are LD_PRELOADed into the same system build; fa-compiled is "
     "the header compiled into the program (its fa_* calls may be inlined into the loop). "
     "Single-thread workloads; calloc-huge left out (peers clearing 1 GiB per call are too slow "
     "under callgrind); snmalloc is never counted: it does not run under valgrind (time it with "
     "`make bench`). Callgrind counts user-space instructions only: page faults and the kernel's "
     "zeroing of fresh pages are invisible, so an allocator that unmaps and re-maps (or purges) memory "
     "looks cheaper here than on the clock (compare calloc-medium/large with latest.md).\n"
     % (os.environ["VG"], os.environ["ELAPSED"], os.environ["SCALE"], max(int(os.environ["SCALE"]) // 10, 1), base)]
L += ["- " + d for d in os.environ.get("DESCS", "").splitlines() if d.strip()]
L += ["- skipped: " + d for d in os.environ.get("SKIPPED", "").splitlines() if d.strip()]
L += ["",
      "| workload | op | N | " + " | ".join(names) + " | harness |",
      "|---|---|---:|" + "---:|" * (len(names) + 1)]
ratios = {a: [] for a in names}
bad = []
for w, n, what in specs:
    n = int(n)
    per = {a: (ir(a, w, n) - ir(a, w, 0)) / n for a in names}
    cells = []
    for a in names:
        if a == base:
            cells.append(fmt(per[a]))
        else:
            r = per[a] / per[base]
            ratios[a].append(r)
            cells.append(fmt(per[a]) + " (%.2f×)" % r)
    try:
        h = [float(open("%s/glibc.%s.%d.harness" % (tmp, w, k)).read()) for k in (n, 0)]
        harness = "%.1f" % ((h[0] - h[1]) / n)
    except (OSError, ValueError):
        harness = "?"
    L.append("| %s | %s | %d | %s | %s |" % (w, what, n, " | ".join(cells), harness))
    if len({out(a, w, n) for a in names}) != 1:
        bad.append(w)
L.append("| **geometric mean** | | | " + " | ".join(
    "1.00×" if a == base else "**%.2f×**" % math.exp(sum(map(math.log, ratios[a])) / len(ratios[a]))
    for a in names) + " | |")
if bad:
    L.append("\n**checksums differ between allocators in: %s**" % ", ".join(bad))
open(os.environ["OUTMD"], "w").write("\n".join(L) + "\n")
print("\n".join(L))
if bad:
    raise SystemExit(1)
PY
