#!/usr/bin/env bash
# bench/secure.sh -- the cost of FASTALLOC_SECURE on the workloads of the bench suite (bench/suite.sh):
# each bench/w_*.c program built twice, fastalloc compiled in (BINDIR/w_*_fa, `make bench-build`) and
# the same source with -DFASTALLOC_SECURE (SECDIR/w_*_fa, `make bench-secure` builds them), and per
# workload ONE hyperfine run holding both commands. Writes a markdown table of the per-workload
# ratio secure/default and the geometric mean of the ratios.
# Then, given both libraries (FASTALLOC_SO, FASTALLOC_SECURE_SO; `make bench-secure` passes them),
# the same cost on real programs: the workloads of tests/preload (python3 workload.py, sqlite3
# :memory: reading workload.sql, lua5.4 workload.lua; each skipped when not installed) run with
# libfastalloc.so and with libfastalloc-secure.so preloaded, ONE `hyperfine -N` run per program
# holding both commands, after one run under each library whose stdout must equal the run without
# preload (a mismatch marks the row and fails the script). A second table in OUT, after the first.
#
# usage: bench/secure.sh BINDIR SECDIR
# env:
#   DIV=4       run each workload at its default N / DIV (1: the suite's full sizes)
#   RUNS=5 WARMUP=1   hyperfine --runs / --warmup (the real programs too)
#   ONLY=REGEX  only the workloads whose name matches (not applied to the real programs)
#   OUT=FILE    the tables (default bench/results/secure.md)
#   FASTALLOC_SO=LIB FASTALLOC_SECURE_SO=LIB   libfastalloc.so and libfastalloc-secure.so (make lib,
#               make build/lib/libfastalloc-secure.so): without both, no real programs
#   PROGRAMS=0  no real programs even when both libraries are given
set -uo pipefail
die() { echo "secure.sh: $*" >&2; exit 1; }
say() { echo "secure.sh: $*" >&2; }
[ $# -eq 2 ] || die "usage: bench/secure.sh BINDIR SECDIR"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINDIR=$(realpath "$1") || die "no directory $1"
SECDIR=$(realpath "$2") || die "no directory $2"
DIV=${DIV:-4}; RUNS=${RUNS:-5}; WARMUP=${WARMUP:-1}; ONLY=${ONLY:-}
OUT=${OUT:-$here/results/secure.md}
FA_SO=${FASTALLOC_SO:-}; SEC_SO=${FASTALLOC_SECURE_SO:-}; PROGRAMS=${PROGRAMS:-1}
if [ "$PROGRAMS" = 0 ]; then
    no_programs="PROGRAMS=0"
elif [ -z "$FA_SO" ] || [ -z "$SEC_SO" ]; then
    PROGRAMS=0; no_programs="they need FASTALLOC_SO and FASTALLOC_SECURE_SO, as make bench-secure gives"
else
    FA_SO=$(realpath -e "$FA_SO") || die "no library $FASTALLOC_SO (run: make lib)"
    SEC_SO=$(realpath -e "$SEC_SO") || die "no library $FASTALLOC_SECURE_SO (run: make build/lib/libfastalloc-secure.so)"
fi
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
    say "$w n=$n $r"
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

# ---- real programs through LD_PRELOAD: libfastalloc.so against libfastalloc-secure.so -------------
if [ "$PROGRAMS" = 0 ]; then
    say "real programs: not run ($no_programs)"
    exit 0
fi
pre=$(cd "$here/../tests/preload" && pwd) || die "no tests/preload"
# hyperfine 1.16 and later feed stdin from a file (--input); before that sqlite3 reads the script itself.
has_input=0; hyperfine --help 2>/dev/null | grep -q -- '--input' && has_input=1
# A pyenv-style shim would add its own start-up to every run: time the real interpreter.
PY=$(command -v python3); PY=$("$PY" -c 'import sys; print(sys.executable)' 2>/dev/null || echo "$PY")

: >"$tmp/programs.tsv"; skipped=(); failed=0
# program NAME VERSION INPUT ARGV...: INPUT is the file on stdin ("" for none). One check run per
# library, then one hyperfine run holding both commands; appends a row to programs.tsv.
program() {
    local name=$1 version=$2 input=$3; shift 3
    local argv=("$@") note="" lib k rc out cmd r
    local in=${input:-/dev/null}   # stdin as hyperfine gives it: the --input file, else none
    timeout -k 5 600 env -u LD_PRELOAD "${argv[@]}" <"$in" >"$tmp/$name.ref" 2>"$tmp/$name.ref.err"
    rc=$?
    [ $rc -eq 0 ] || { say "$name: the run without preload failed (exit $rc): $(tail -n 3 "$tmp/$name.ref.err")"; note="fails without preload"; }
    for k in default secure; do
        [ $k = default ] && lib=$FA_SO || lib=$SEC_SO
        rm -f "$tmp/maps"
        # workload.py and workload.lua save their /proc/self/maps on request: is the preload in?
        timeout -k 5 600 env LD_PRELOAD="$lib" FA_MAPS_OUT="$tmp/maps" "${argv[@]}" <"$in" >"$tmp/$name.$k" 2>"$tmp/$name.$k.err"
        rc=$?
        if [ $rc -ne 0 ]; then out="exit $rc"
        elif grep -q "cannot be preloaded" "$tmp/$name.$k.err"; then out="preload refused"
        elif [ -f "$tmp/maps" ] && ! grep -qF "$lib" "$tmp/maps"; then out="library not mapped"
        elif ! cmp -s "$tmp/$name.$k" "$tmp/$name.ref"; then out="output differs"
        else continue; fi
        say "$name under $(basename "$lib"): $out (stderr: $(tail -n 3 "$tmp/$name.$k.err"))"
        note+="${note:+; }$k: $out"
    done
    [ -n "$note" ] && failed=1
    cmd=$(printf '%q ' "${argv[@]}"); cmd=${cmd% }
    local hf=(hyperfine -N -w "$WARMUP" -r "$RUNS" --export-json "$tmp/$name.json")
    [ -n "$input" ] && hf+=(--input "$input")
    if "${hf[@]}" -n default "env LD_PRELOAD=$FA_SO $cmd" -n secure "env LD_PRELOAD=$SEC_SO $cmd" >"$tmp/$name.hf" 2>&1; then
        r=$(python3 - "$tmp/$name.json" <<'EOF'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
d, s = res["default"], res["secure"]
print(f'{d["mean"]:.4f}\t{d["stddev"] or 0:.4f}\t{s["mean"]:.4f}\t{s["stddev"] or 0:.4f}')
EOF
)
    else
        say "$name: hyperfine failed: $(tail -n 3 "$tmp/$name.hf")"
        r=$'-\t-\t-\t-'; note+="${note:+; }hyperfine failed"; failed=1
    fi
    say "$name $version: $(echo "$r" | tr '\t' ' ')${note:+ ($note)}"
    printf '%s\t%s\t%s\t%s\n' "$name" "$version" "$r" "$note" >>"$tmp/programs.tsv"
}

t0=$(date +%s)
program python3 "$("$PY" -c 'import platform; print(platform.python_version())')" "" "$PY" "$pre/workload.py"
if command -v sqlite3 >/dev/null; then
    v=$(sqlite3 --version | cut -d' ' -f1)
    if [ $has_input = 1 ]; then program sqlite3 "$v" "$pre/workload.sql" sqlite3 -bail :memory:
    else program sqlite3 "$v" "" sqlite3 -bail :memory: ".read $pre/workload.sql"; fi
else
    say "sqlite3: skipped, not installed (apt-get install sqlite3)"; skipped+=("sqlite3 (not installed)")
fi
if command -v lua5.4 >/dev/null; then
    program lua5.4 "$(lua5.4 -v 2>&1 | awk '{print $2; exit}')" "" lua5.4 "$pre/workload.lua"
else
    say "lua5.4: skipped, not installed (apt-get install lua5.4)"; skipped+=("lua5.4 (not installed)")
fi
t1=$(date +%s)

python3 - "$OUT" "$RUNS" "$WARMUP" "$((t1 - t0))" "$has_input" "$tmp/programs.tsv" "$FA_SO" "$SEC_SO" "${skipped[@]}" <<'EOF'
import math, os, sys
out, runs, warmup, secs, has_input, tsv, fa_so, sec_so = sys.argv[1:9]
skipped = sys.argv[9:]
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
ratios = [float(r[4]) / float(r[2]) for r in rows if r[2] != "-" and not r[6]]
geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios)) if ratios else float("nan")
sql = ("`sqlite3 -bail :memory:` with workload.sql on stdin (hyperfine --input)" if has_input == "1"
       else "`sqlite3 -bail :memory: \".read workload.sql\"`")
s = ["", "## Real programs through LD_PRELOAD", "",
     f"Unmodified programs running the workloads of tests/preload (`python3 workload.py`, {sql}, "
     f"`lua5.4 workload.lua`), each with {os.path.basename(fa_so)} (default) and with "
     f"{os.path.basename(sec_so)} (the same examples/override/libfastalloc.c with `-DFASTALLOC_SECURE`) "
     f"preloaded as `env LD_PRELOAD=lib program args`, one `hyperfine -N -w {warmup} -r {runs}` run per "
     f"program holding both commands, after one run under each library whose stdout must equal the "
     f"program's run without preload. Wall time means in seconds; ratio = secure / default (above 1: "
     f"secure is slower); the geomean leaves out marked rows. {len(rows)} programs, {secs} s"
     + (f"; skipped: {', '.join(skipped)}" if skipped else "") + ".", "",
     "| program | default s | ± | secure s | ± | secure/default |",
     "|---|---:|---:|---:|---:|---:|"]
for name, ver, dm, ds, sm, ss, note in rows:
    ratio = f"{float(sm) / float(dm):.3f}" if dm != "-" else "-"
    s.append(f"| {name} {ver}{' **' + note + '**' if note else ''} | {dm} | {ds} | {sm} | {ss} | {ratio} |")
s.append(f"| **geomean** | | | | | **{geo:.3f}** |" if ratios else "| **geomean** | | | | | - |")
old = open(out).read()
at = old.find("\n## Instructions")   # before the hand-written sections, right after the first table
section = "\n".join(s) + "\n"
open(out, "w").write(old[:at] + section + old[at:] if at >= 0 else old + section)
print(f"secure.sh: real programs: geomean secure/default {geo:.4f} over {len(ratios)} programs; table in {out}")
EOF
[ "$failed" = 0 ] || die "real programs: a check failed (marked in $OUT)"
