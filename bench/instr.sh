#!/usr/bin/env bash
# bench/instr.sh -- instructions per malloc+free pair in bench/micro.c, counted by callgrind, for
# fastalloc (preloaded and compiled in), glibc and the peers of bench/peers.sh but snmalloc (which
# does not run under valgrind: its counts read 0). Run by `make bench-instr` into
# bench/results/instr-micro.md: the baseline fastalloc's fast paths are optimised against.
#
# usage: bench/instr.sh FA_BIN SYS_BIN          (prints a markdown table on stdout)
#   FA_BIN / SYS_BIN as for bench/run.sh. env: N=200000 ops per run; N0=0 for the baseline run;
#   JOBS=nproc parallel valgrind runs; OUT=FILE also writes the table there;
#   WORKLOADS="pingpong 64,batch 64,mix" (comma-separated micro arguments; default: all ten);
#   ALLOCATORS, FASTALLOC_SO, MIMALLOC3_SO, RPMALLOC2_SO, MIMALLOC_SO, JEMALLOC_SO, TCMALLOC_SO as in
#   bench/suite.sh.
#
# Method: every workload runs twice per allocator under `valgrind --tool=callgrind`, with N
# and with N0 operations; Ir/op = (Ir(N) - Ir(N0)) / (N - N0). The difference cancels
# process start-up, dynamic linking, allocator initialisation, printf and exit: what is left is
# the cost of one op, the benchmark loop included:
#   pingpong, batch, batchfifo: one malloc + one free (+ the touch and the tag check)
#   mix: one free + one malloc of a random size (+ the xorshift step, touch and check); with
#   N0 = 0 its first 4096 steps, which fill the pool without a free, are part of the N run
#   (2 % of it); N0 >= 4096 cancels them.
# The "harness" column is the part spent in SYS_BIN's own code (the same machine code for glibc,
# fa-preload and every peer), taken from the glibc run; it is roughly the share of the other
# columns that is not allocator work. FA_BIN has its own loop code, where fa_malloc/fa_free may
# be inlined, so no split is shown for it. Ratios are to fa-preload (like for like).
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
N0=${N0:-0}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
[ "$N" -gt "$N0" ] || die "need N > N0 (N=$N N0=$N0)"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/peers.sh"
peers_setup 0 "$(dirname "$FA_BIN")/../lib/libfastalloc.so" "$SYS_BIN" pingpong 16 1
peers_drop snmalloc "does not run under valgrind (its instruction counts read 0)"
names=("${A_NAME[@]}"); preload=("${A_LIB[@]}"); bins=(); descs=("${A_DESC[@]}")
skipped=("${A_SKIPPED[@]+"${A_SKIPPED[@]}"}")
for k in "${A_KIND[@]}"; do if [ "$k" = fa ]; then bins+=("$FA_BIN"); else bins+=("$SYS_BIN"); fi; done

if [ -n "${WORKLOADS:-}" ]; then
    IFS=, read -r -a workloads <<<"$WORKLOADS"
else
    workloads=("pingpong 16" "pingpong 64" "pingpong 256" "pingpong 1024"
               "batch 16" "batch 64" "batch 256" "batch 1024" "batchfifo 64" "mix")
fi

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
if [[ " ${names[*]} " == *" glibc "* ]]; then
    for w in "${workloads[@]}"; do
        for n in "$N" "$N0"; do
            f="$tmp/glibc.${w// /-}.$n"
            callgrind_annotate --threshold=100 "$f.out" 2>/dev/null |
                awk -v ob="[$SYS_BIN]" 'index($0, ob) { gsub(",", "", $1); s += $1 } END { print s + 0 }' > "$f.harness"
        done
    done
fi

table=$(TMP="$tmp" N="$N" N0="$N0" NAMES="${names[*]}" WORKLOADS="$(printf '%s\n' "${workloads[@]}")" \
DESCS="$(printf '%s\n' "${descs[@]}")" SKIPPED="$(printf '%s\n' "${skipped[@]+"${skipped[@]}"}")" \
VG="$(valgrind --version)" python3 - <<'PY'
import math, os

tmp, n, n0 = os.environ["TMP"], int(os.environ["N"]), int(os.environ["N0"])
names = os.environ["NAMES"].split()
workloads = [w for w in os.environ["WORKLOADS"].split("\n") if w]
base = next((a for a in ("fa-preload", "fa-compiled") if a in names), names[0])

def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit("no totals in " + path)

def per_op(a, w):
    p = "%s/%s.%s." % (tmp, a, w.replace(" ", "-"))
    return (total_ir(p + "%d.out" % n) - total_ir(p + "%d.out" % n0)) / (n - n0)

def stdout_of(a, w):
    with open("%s/%s.%s.%d.stdout" % (tmp, a, w.replace(" ", "-"), n)) as f:
        return f.read().strip()

print("# Instructions per operation in bench/micro.c (callgrind)\n")
print("`bench/instr.sh` (%s): Ir per op = (Ir(N=%d) − Ir(N=%d)) / %d, the benchmark loop included "
      "(one malloc + one free per op; mix: one free + one malloc of a random size). In parentheses "
      "the ratio to %s (> 1: fastalloc executes fewer instructions). *harness*: the loop's own "
      "instructions in the system build (glibc run), part of every column but fa-compiled's, whose "
      "loop is its own code with fa_malloc/fa_free inlinable. snmalloc does not run under valgrind "
      "and is never counted.\n" % (os.environ["VG"], n, n0, n - n0, base))
for d in os.environ.get("DESCS", "").splitlines():
    if d.strip():
        print("- " + d)
for d in os.environ.get("SKIPPED", "").splitlines():
    if d.strip():
        print("- skipped: " + d)
print()
print("| workload | " + " | ".join(names) + " | harness |")
print("|---|" + "---:|" * (len(names) + 1))
ratios = {a: [] for a in names}
bad = []
for w in workloads:
    ref = per_op(base, w)
    cells = []
    for a in names:
        v = per_op(a, w)
        if a == base:
            cells.append("%.1f" % v)
        else:
            ratios[a].append(v / ref)
            cells.append("%.1f (%.2f×)" % (v, v / ref))
    try:
        hb = "%s/glibc.%s." % (tmp, w.replace(" ", "-"))
        h = [float(open(hb + "%d.harness" % k).read()) for k in (n, n0)]
        cells.append("%.1f" % ((h[0] - h[1]) / (n - n0)))
    except OSError:
        cells.append("?")
    print("| %s | %s |" % (w, " | ".join(cells)))
    if len({stdout_of(a, w) for a in names}) > 1:
        bad.append(w)
geo = ["1.00×" if a == base else "**%.2f×**" % math.exp(
    sum(map(math.log, ratios[a])) / len(ratios[a])) for a in names]
print("| **geomean ratio** | " + " | ".join(geo) + " | |")
if bad:
    print("\n**checksums differ between allocators in: %s**" % ", ".join(bad))
    raise SystemExit(1)
PY
) || { printf '%s\n' "$table"; die "checksums differ or the report failed"; }
printf '%s\n' "$table"
if [ -n "${OUT:-}" ]; then
    printf '%s\n' "$table" > "$OUT.tmp" && mv "$OUT.tmp" "$OUT" && echo "instr.sh: wrote $OUT" >&2
fi
