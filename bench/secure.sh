#!/usr/bin/env bash
# bench/secure.sh -- the cost of FASTALLOC_SECURE on the workloads of the bench suite (bench/suite.sh):
# each bench/w_*.c program built twice, fastalloc compiled in (BINDIR/w_*_fa, `make bench-build`) and
# the same source with -DFASTALLOC_SECURE (SECDIR/w_*_fa, `make bench-secure` builds them), and per
# workload ONE hyperfine run holding both commands. Writes a markdown table of the per-workload
# ratio secure/default and the geometric mean of the ratios.
#
# usage: bench/secure.sh BINDIR SECDIR
# env:
#   DIV=4       run each workload at its default N / DIV (1: the suite's full sizes)
#   RUNS=5 WARMUP=1   hyperfine --runs / --warmup
#   ONLY=REGEX  only the workloads whose name matches
#   OUT=FILE    the table (default bench/results/secure.md)
set -uo pipefail
die() { echo "secure.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: bench/secure.sh BINDIR SECDIR"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINDIR=$(realpath "$1") || die "no directory $1"
SECDIR=$(realpath "$2") || die "no directory $2"
DIV=${DIV:-4}; RUNS=${RUNS:-5}; WARMUP=${WARMUP:-1}; ONLY=${ONLY:-}
OUT=${OUT:-$here/results/secure.md}
command -v hyperfine >/dev/null || die "hyperfine is required: apt-get install -y hyperfine"
command -v python3 >/dev/null || die "python3 is required"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# The suite's workload list, read from bench/suite.sh itself so the two never drift apart.
mapfile -t specs < <(sed -n '/^workloads=(/,/^)/p' "$here/suite.sh" | grep -o '"[^"]*"' | tr -d '"')
[ ${#specs[@]} -gt 0 ] || die "no workloads found in bench/suite.sh"

rows=()
t0=$(date +%s)
for spec in "${specs[@]}"; do
    read -r _ prog w _ <<< "$spec"
    [ -n "$ONLY" ] && ! [[ $w =~ $ONLY ]] && continue
    def=$BINDIR/${prog}_fa; sec=$SECDIR/${prog}_fa
    [ -x "$def" ] && [ -x "$sec" ] || die "missing $def or $sec (run: make bench-secure)"
    n=$("$def" list | awk -v w="$w" '$1 == w { print $2 }')
    [ -n "$n" ] || die "$prog has no workload $w"
    n=$(( (n + DIV - 1) / DIV ))
    a=$("$def" "$w" "$n" 2>/dev/null | tail -1); b=$("$sec" "$w" "$n" 2>/dev/null | tail -1)
    [ "$a" = "$b" ] || die "$w: outputs differ (default '$a', secure '$b')"
    hyperfine -N -w "$WARMUP" -r "$RUNS" --export-json "$tmp/$w.json" -n default "$def $w $n" -n secure "$sec $w $n" >/dev/null 2>&1 \
        || die "$w: hyperfine failed"
    r=$(python3 - "$tmp/$w.json" <<'EOF'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
d, s = res["default"], res["secure"]
print(f'{d["mean"]:.4f} {d["stddev"] or 0:.4f} {s["mean"]:.4f} {s["stddev"] or 0:.4f} {s["mean"] / d["mean"]:.4f}')
EOF
)
    echo "secure.sh: $w n=$n $r" >&2
    rows+=("$w $n $r")
done
t1=$(date +%s)

python3 - "$OUT" "$DIV" "$RUNS" "$WARMUP" "$((t1 - t0))" "${rows[@]}" <<'EOF'
import math, sys, platform, os
out, div, runs, warmup, secs = sys.argv[1:6]
rows = [r.split() for r in sys.argv[6:]]
# sections written by hand after the table (from "## Instructions" on) survive a new run
kept = ""
if os.path.exists(out):
    old = open(out).read()
    at = old.find("\n## Instructions")
    kept = old[at:] if at >= 0 else ""
ratios = [float(r[6]) for r in rows]
geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios)) if ratios else float("nan")
with open(out, "w") as f:
    f.write("# FASTALLOC_SECURE: cost on the bench suite's workloads\n\n")
    f.write(f"`bash bench/secure.sh` (`make bench-secure`): every bench/w_*.c workload of bench/suite.sh, "
            f"fastalloc compiled in, default build against `-DFASTALLOC_SECURE` (same source, same flags), "
            f"one `hyperfine -N -w {warmup} -r {runs}` run per workload holding both commands; N = the "
            f"workload's default N / {div}. Wall time means in seconds; ratio = secure / default "
            f"(above 1: secure is slower). {len(rows)} workloads, {secs} s, on {os.cpu_count()} CPUs "
            f"({platform.machine()}).\n\n")
    f.write("| workload | N | default s | ± | secure s | ± | secure/default |\n|---|---:|---:|---:|---:|---:|---:|\n")
    for w, n, dm, ds, sm, ss, r in rows:
        f.write(f"| {w} | {n} | {dm} | {ds} | {sm} | {ss} | {float(r):.3f} |\n")
    f.write(f"| **geomean** | | | | | | **{geo:.3f}** |\n")
    f.write(kept)
print(f"secure.sh: geomean secure/default {geo:.4f} over {len(rows)} workloads; table in {out}")
EOF
