#!/usr/bin/env bash
# bench/suite_instr.sh -- instructions per operation (callgrind Ir) of the single-thread suite
# workloads, fastalloc against glibc and each peer. Behind `make bench-instr`.
#
# usage: bench/suite_instr.sh BINDIR     (BINDIR holds w_*_fa and w_*_sys)
# env:   SCALE=100   churn workloads run with N = default N / SCALE (callgrind is ~50x slower);
#                    zero, frag and hashmap, whose ops are far larger, with default N / (SCALE/10)
#        JOBS=nproc  callgrind runs in parallel
#        OUT=bench/results   instr.md goes there
#        MIMALLOC_SO, JEMALLOC_SO, TCMALLOC_SO   as for bench/suite.sh
#
# Per allocator and workload two runs: N and the baseline N = 0 (process start, allocator start-up
# when it is eager, the harness's fixed work); per op = (Ir(N) - Ir(0)) / N. Callgrind does not
# replace malloc (unlike memcheck), so LD_PRELOAD of the peers into the system build works as in
# bench/suite.sh and every allocator runs the same harness code, except fastalloc's build, where
# fa_* may be inlined into it. The harness column is the glibc run's self cost inside the workload
# binary (tagging, checks, RNG): what any allocator pays on top of its own instructions.
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

multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
find_lib() {
    local c n
    [ -n "$1" ] && [ -f "$1" ] && { realpath "$1"; return 0; }
    shift
    for n in "$@"; do
        for c in "/usr/lib/$multiarch/$n" "/usr/lib/$n" "/usr/local/lib/$n"; do
            [ -f "$c" ] && { realpath "$c"; return 0; }
        done
    done
    return 1
}
names=(fastalloc glibc); libs=("" ""); kinds=(fa sys)
add_peer() {
    local name=$1 lib
    shift
    if lib=$(find_lib "$@"); then names+=("$name"); libs+=("$lib"); kinds+=(sys)
    else echo "suite_instr.sh: SKIPPING $name: not installed (see make bench)" >&2; fi
}
add_peer mimalloc "${MIMALLOC_SO:-}" libmimalloc.so.2 libmimalloc.so
add_peer jemalloc "${JEMALLOC_SO:-}" libjemalloc.so.2 libjemalloc.so
add_peer tcmalloc "${TCMALLOC_SO:-}" libtcmalloc_minimal.so.4 libtcmalloc_minimal.so

# "program workload what-an-op-is"
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
    "w_frag frag initial-block"        "w_frag hashmap word"
)
declare -A defn
for p in w_churn w_zero w_frag; do
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
    read -r prog w what <<< "$spec"
    sc=$SCALE; [ "$prog" = w_churn ] || sc=$(( SCALE / 10 > 0 ? SCALE / 10 : 1 ))
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
ELAPSED=$(( $(date +%s) - t0 )) VG="$(valgrind --version)" python3 - <<'PY'
import math, os
tmp, names = os.environ["TMP"], os.environ["NAMES"].split()
specs = [l.split() for l in open(os.environ["SPECS"]) if l.strip()]

def ir(a, w, n):
    with open("%s/%s.%s.%d.out" % (tmp, a, w, n)) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise SystemExit("no totals for %s %s %d" % (a, w, n))

def out(a, w, n):
    return open("%s/%s.%s.%d.stdout" % (tmp, a, w, n)).read().strip()

L = ["# Instructions per operation (callgrind)\n",
     "`make bench-instr` (bench/suite_instr.sh, %s, %s s): Ir per op = (Ir(N) − Ir(N=0)) / N, N = default / %s "
     "(churn) or default / %s (the rest). "
     "In parentheses the ratio to fastalloc (> 1: fastalloc executes fewer instructions). *harness*: "
     "the workload's own instructions (glibc run, self cost in the workload binary), included in every "
     "column. Single-thread workloads; calloc-huge left out (peers clearing 1 GiB per call are too slow "
     "under callgrind). Callgrind counts user-space instructions only: page faults and the kernel's "
     "zeroing of fresh pages are invisible, so an allocator that unmaps and re-maps (or purges) memory "
     "looks cheaper here than on the clock (compare calloc-medium/large with latest.md).\n"
     % (os.environ["VG"], os.environ["ELAPSED"], os.environ["SCALE"], max(int(os.environ["SCALE"]) // 10, 1)),
     "| workload | op | N | " + " | ".join(names) + " | harness |",
     "|---|---|---:|" + "---:|" * (len(names) + 1)]
ratios = {a: [] for a in names}
bad = []
for w, n, what in specs:
    n = int(n)
    per = {a: (ir(a, w, n) - ir(a, w, 0)) / n for a in names}
    cells = []
    for a in names:
        if a == "fastalloc":
            cells.append("%.0f" % per[a] if per[a] >= 100 else "%.1f" % per[a])
        else:
            r = per[a] / per["fastalloc"]
            ratios[a].append(r)
            cells.append(("%.0f" % per[a] if per[a] >= 100 else "%.1f" % per[a]) + " (%.2f×)" % r)
    try:
        h = [float(open("%s/glibc.%s.%d.harness" % (tmp, w, k)).read()) for k in (n, 0)]
        harness = "%.1f" % ((h[0] - h[1]) / n)
    except (OSError, ValueError):
        harness = "?"
    L.append("| %s | %s | %d | %s | %s |" % (w, what, n, " | ".join(cells), harness))
    if len({out(a, w, n) for a in names}) != 1:
        bad.append(w)
L.append("| **geometric mean** | | | 1.00× | " + " | ".join(
    "**%.2f×**" % math.exp(sum(map(math.log, ratios[a])) / len(ratios[a])) for a in names[1:]) + " | |")
if bad:
    L.append("\n**checksums differ between allocators in: %s**" % ", ".join(bad))
open(os.environ["OUTMD"], "w").write("\n".join(L) + "\n")
print("\n".join(L))
if bad:
    raise SystemExit(1)
PY
