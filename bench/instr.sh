#!/usr/bin/env bash
# bench/instr.sh -- instructions per malloc+free pair, counted by callgrind.
#
# usage: bench/instr.sh FA_BIN SYS_BIN          (prints a markdown table on stdout)
#   FA_BIN / SYS_BIN as for bench/run.sh. env: N=200000 ops per run; N0=N/10 for the baseline
#   run; JOBS=nproc parallel valgrind runs; MIMALLOC_SO, JEMALLOC_SO, TCMALLOC_SO as in run.sh.
#
# Method: every workload runs twice per allocator under `valgrind --tool=callgrind`, with N
# and with N0 operations; Ir/op = (Ir(N) - Ir(N0)) / (N - N0). The difference cancels
# process start-up, dynamic linking, allocator initialisation, printf and exit, and, as
# N0 >= 4096, the fill phase of `mix`: what is left is the steady-state cost of one op:
#   pingpong, batch, batchfifo: one malloc + one free (+ the touch and the tag check)
#   mix: one free + one malloc of a random size (+ the xorshift step, touch and check)
# The benchmark loop itself is counted too. The "harness" column is the part spent in
# SYS_BIN's own code (the same machine code for glibc and every peer), taken from the glibc
# run; it is roughly the share of the other columns that is not allocator work. FA_BIN has
# its own loop code, where fa_malloc/fa_free may be inlined, so no split is shown for it.
#
# Honesty of the peer counts (checked with valgrind 3.19 and the Debian 12 libraries):
# only memcheck, helgrind, drd, massif and dhat replace malloc with valgrind's own;
# callgrind and cachegrind do not. The peers are therefore preloaded into SYS_BIN exactly as
# in run.sh (valgrind appends the user's LD_PRELOAD after its vgpreload_core), and
# callgrind_annotate indeed attributes malloc/free to libmimalloc.so.2.0 and
# libjemalloc.so.2 (tcmalloc's show as object "???": it puts them in its own
# "google_malloc" section). No separate -lmimalloc binary or --soname-synonyms is needed.
# Before counting, each peer is checked with LD_DEBUG=bindings to really bind SYS_BIN's
# malloc (the same loader runs under valgrind).
set -euo pipefail

die() { echo "instr.sh: $*" >&2; exit 1; }
if [ $# -ne 2 ]; then die "usage: bench/instr.sh FA_BIN SYS_BIN"; fi
FA_BIN=$(realpath "$1")
SYS_BIN=$(realpath "$2")
[ -x "$FA_BIN" ] || die "FA_BIN '$1' is not an executable"
[ -x "$SYS_BIN" ] || die "SYS_BIN '$2' is not an executable"
command -v valgrind >/dev/null || die "valgrind is missing; install with: sudo apt-get install -y valgrind"
command -v callgrind_annotate >/dev/null || die "callgrind_annotate is missing (package valgrind)"
command -v python3 >/dev/null || die "python3 is required"

N=${N:-200000}
N0=${N0:-$((N / 10))}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
[ "$N0" -ge 4096 ] || echo "instr.sh: warning: N0=$N0 < 4096, mix's fill phase is not cancelled" >&2
[ "$N" -gt "$N0" ] || die "need N > N0 (N=$N N0=$N0)"

names=(fastalloc glibc)
preload=("" "")
bins=("$FA_BIN" "$SYS_BIN")
skipped=()
source "$(dirname "${BASH_SOURCE[0]}")/peers.sh"
add_peer mimalloc "${MIMALLOC_SO:-}" libmimalloc.so libmimalloc.so.2 "libmimalloc-dev"
add_peer jemalloc "${JEMALLOC_SO:-}" libjemalloc.so libjemalloc.so.2 "libjemalloc-dev"
add_peer tcmalloc "${TCMALLOC_SO:-}" libtcmalloc_minimal.so libtcmalloc_minimal.so.4 "libgoogle-perftools-dev"

workloads=("pingpong 16" "pingpong 64" "pingpong 256" "pingpong 1024"
           "batch 16" "batch 64" "batch 256" "batch 1024" "batchfifo 64" "mix")

tmp=$(mktemp -d /tmp/fa-instr.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run_one I WORKLOAD N: callgrind run, output file $tmp/<alloc>.<workload>.<n>.out
run_one() {
    local i=$1 w=$2 n=$3 f
    f="$tmp/${names[$i]}.${w// /-}.$n"
    local -a e=(env -u LD_PRELOAD)
    [ -n "${preload[$i]}" ] && e=(env "LD_PRELOAD=${preload[$i]}")
    # shellcheck disable=SC2086  # $w is deliberately word-split
    if ! "${e[@]}" valgrind -q --tool=callgrind --callgrind-out-file="$f.out" \
            "${bins[$i]}" $w "$n" > "$f.stdout" 2> "$f.stderr"; then
        echo "instr.sh: FAILED: ${names[$i]} $w $n (see below)" >&2
        cat "$f.stderr" >&2
        return 1
    fi
}

echo "instr.sh: ${#names[@]} allocators (${names[*]}) x ${#workloads[@]} workloads x 2 runs, $JOBS at a time..." >&2
pids=()
status=0
for i in "${!names[@]}"; do
    for w in "${workloads[@]}"; do
        for n in "$N" "$N0"; do
            while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || status=1; done
            run_one "$i" "$w" "$n" &
            pids+=($!)
        done
    done
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ "$status" -eq 0 ] || die "some callgrind runs failed"

# Self cost of SYS_BIN's own functions in the glibc runs (for the harness column).
for w in "${workloads[@]}"; do
    for n in "$N" "$N0"; do
        f="$tmp/glibc.${w// /-}.$n"
        callgrind_annotate --threshold=100 "$f.out" 2>/dev/null |
            awk -v ob="[$SYS_BIN]" 'index($0, ob) { gsub(",", "", $1); s += $1 } END { print s + 0 }' > "$f.harness"
    done
done

TMP="$tmp" N="$N" N0="$N0" NAMES="${names[*]}" WORKLOADS="$(printf '%s\n' "${workloads[@]}")" \
python3 - <<'PY'
import math, os

tmp, n, n0 = os.environ["TMP"], int(os.environ["N"]), int(os.environ["N0"])
names = os.environ["NAMES"].split()
workloads = [w for w in os.environ["WORKLOADS"].split("\n") if w]

def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit("no totals in " + path)

def per_op(a, w):
    base = "%s/%s.%s." % (tmp, a, w.replace(" ", "-"))
    return (total_ir(base + "%d.out" % n) - total_ir(base + "%d.out" % n0)) / (n - n0)

def stdout_of(a, w):
    with open("%s/%s.%s.%d.stdout" % (tmp, a, w.replace(" ", "-"), n)) as f:
        return f.read().strip()

print("Instructions (callgrind Ir) per op = per malloc+free pair, steady state: "
      "(Ir(N=%d) - Ir(N=%d)) / %d. In parentheses: ratio to fastalloc (> 1: fastalloc "
      "executes fewer instructions).\n" % (n, n0, n - n0))
print("| workload | " + " | ".join(names) + " | harness |")
print("|---|" + "---:|" * (len(names) + 1))
ratios = {a: [] for a in names}
bad = []
for w in workloads:
    fa = per_op("fastalloc", w)
    cells = []
    for a in names:
        v = per_op(a, w)
        if a == "fastalloc":
            cells.append("%.1f" % v)
        else:
            ratios[a].append(v / fa)
            cells.append("%.1f (%.2f×)" % (v, v / fa))
    hb = "%s/glibc.%s." % (tmp, w.replace(" ", "-"))
    h = [float(open(hb + "%d.harness" % k).read()) for k in (n, n0)]
    cells.append("%.1f" % ((h[0] - h[1]) / (n - n0)))
    print("| %s | %s |" % (w, " | ".join(cells)))
    if len({stdout_of(a, w) for a in names}) > 1:
        bad.append(w)
geo = ["1.00×" if a == "fastalloc" else "**%.2f×**" % math.exp(
    sum(map(math.log, ratios[a])) / len(ratios[a])) for a in names]
print("| **geomean ratio** | " + " | ".join(geo) + " | |")
if bad:
    print("\n**checksums differ between allocators in: %s**" % ", ".join(bad))
    raise SystemExit(1)
PY
