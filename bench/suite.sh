#!/usr/bin/env bash
# bench/suite.sh -- the benchmark suite behind `make bench`: fastalloc, preloaded and compiled in,
# against glibc and the peers (bench/peers.sh: mimalloc 3, rpmalloc 2, snmalloc when their
# libraries are there; Debian's mimalloc 2.0, jemalloc, tcmalloc) on the bench/w_*.c workloads,
# plus two fastalloc ablations.
#
# usage: bench/suite.sh BINDIR        (BINDIR holds w_*_fa, w_*_sys, w_*_fa_retire0, w_*_fa_notrack)
# env:
#   QUICK=1     smoke test: N/200, --runs 1 --warmup 0, every allocator that is installed (nothing
#               is installed, a missing peer is skipped with one line) + the ablation builds;
#               results go to BINDIR/quick/ (latest.md is left alone). Ends with the line
#               "N passed, N failed" (every workload x allocator run that exits 0 with the glibc
#               run's checksum passes) and exits non-zero when anything failed.
#   RUNS=5 WARMUP=1   hyperfine --runs / --warmup (full mode)
#   TIMEOUT=5   seconds one run may take; a slower allocator is stopped, shown as "> TIMEOUT s" and
#               left out of the hyperfine runs (its ratio is then a lower bound, marked >)
#   SLOW=1.5    an allocator whose checked run takes longer than this many seconds is timed by that
#               single run instead of hyperfine (marked ¹), to keep `make bench` within minutes
#   ONLY=REGEX  run only the workloads whose name matches
#   RECHECK=10  when fa-preload's hyperfine median is above 1.10x the fastest peer's, run the two
#               again this many times each, alternating, right away (bench/recheck.py; its line in
#               recheck.tsv, the report shows it beside the gap); 0: no rechecks
#   RUNNER="valgrind -q --error-exitcode=1 ..."   words put before every workload program (after
#               env [LD_PRELOAD=...]): the smoke pass under a memory tool (make test runs it under
#               memcheck, see the Makefile). With a RUNNER nothing is timed: no hyperfine runs.
#   ALLOCATORS="fa-preload mimalloc3 ..."   run only these (names as in bench/peers.sh)
#   OUT=DIR     where results go (default bench/results)
#   FASTALLOC_SO (default BINDIR/../lib/libfastalloc.so, made by `make lib`), MIMALLOC3_SO,
#   RPMALLOC2_SO, SNMALLOC_SO (default ../shared/peers/NAME.so next to the repository when there),
#   MIMALLOC_SO, JEMALLOC_SO, TCMALLOC_SO: the library to preload; set but empty: leave it out
#
# How it measures. Each workload program is built per allocator from one source (see
# bench/common.h): fastalloc compiled in (_fa: fa-compiled), and the system build (_sys) into which
# libfastalloc.so (fa-preload) and the peers are LD_PRELOADed, so glibc, fa-preload and every peer
# run the same machine code: fa-preload against the peers is the like-for-like comparison, and
# fa-compiled is what the header gives a program that includes it. Every command starts as
# `env [-u LD_PRELOAD | LD_PRELOAD=lib] BIN WORKLOAD N` without a shell (hyperfine -N), so all pay
# the same exec cost. Per workload: one checked run per allocator under `timeout` and
# `/usr/bin/time -f %M` (checksum, exit status, peak RSS, stderr metrics), then one hyperfine
# invocation over the allocators that passed (JSON + markdown export). Churn and zero workloads
# then run a second hyperfine: fa-compiled against its ablation build.
set -uo pipefail

die() { echo "suite.sh: $*" >&2; exit 1; }
say() { echo "suite.sh: $*" >&2; }

[ $# -eq 1 ] || die "usage: bench/suite.sh BINDIR"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINDIR=$(realpath "$1") || die "no directory $1"
QUICK=${QUICK:-0}
RUNNER=${RUNNER:-}
read -r -a runner_words <<< "$RUNNER"
[ "$QUICK" = 0 ] || QUICK=1
TIMEOUT=${TIMEOUT:-5}
SLOW=${SLOW:-1.5}
ONLY=${ONLY:-}
if [ "$QUICK" = 1 ]; then
    OUT=${OUT:-$BINDIR/quick}
    hf_opts=(--runs 1 --warmup 0)
else
    OUT=${OUT:-$here/results}
    hf_opts=(--runs "${RUNS:-5}" --warmup "${WARMUP:-1}")
fi
mkdir -p "$OUT" && OUT=$(realpath "$OUT")
t_start=$(date +%s)

# ---- tools and peers: install with apt-get when root, else say what to run -------------------
is_root() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=0
apt_install() {   # apt_install PKG...: true when apt-get succeeded
    is_root || return 1
    [ "$QUICK" = 1 ] && return 1        # the smoke test (make test) never installs anything
    say "installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if [ $apt_updated = 0 ]; then apt-get update -qq >&2 || true; apt_updated=1; fi
    apt-get install -y -qq "$@" >&2
}
todo=()   # install commands we could not run ourselves

command -v python3 >/dev/null || apt_install python3 || die "python3 is required: apt-get install -y python3"
command -v hyperfine >/dev/null || apt_install hyperfine || true
HAVE_HF=0; command -v hyperfine >/dev/null && HAVE_HF=1
[ -n "$RUNNER" ] && HAVE_HF=0            # under a tool the checked runs are the test; nothing is timed
if [ $HAVE_HF = 0 ] && [ -z "$RUNNER" ]; then
    todo+=("sudo apt-get install -y hyperfine")
    [ "$QUICK" = 1 ] || die "hyperfine is required; run: sudo apt-get install -y hyperfine"
    say "hyperfine missing: QUICK mode runs the checked runs only"
fi
[ -x /usr/bin/time ] || apt_install time || true
TIME_BIN=/usr/bin/time
if [ ! -x $TIME_BIN ]; then
    TIME_BIN=; todo+=("sudo apt-get install -y time")
    say "/usr/bin/time missing: peak RSS will be n/a (sudo apt-get install -y time)"
fi
HAVE_GP=0
if [ "$QUICK" = 0 ]; then
    command -v gnuplot >/dev/null || apt_install gnuplot-nox || true
    if command -v gnuplot >/dev/null; then HAVE_GP=1
    else todo+=("sudo apt-get install -y gnuplot-nox"); say "gnuplot missing: no chart"; fi
fi

# ---- workloads: "set program workload ablation [abl_n=N] [quick_n=N]" ------------------------
# ablation: the fastalloc variant build compared with the default one ("-": none). abl_n: the N of
# the ablation runs (calloc-huge's notrack run clears each GiB, so it uses N=8); quick_n: the N of
# QUICK=1 (default: the program's default N / 200).
workloads=(
    "churn w_churn pingpong-16 retire0"   "churn w_churn pingpong-256 retire0"
    "churn w_churn lifo-64 retire0"       "churn w_churn lifo-256 retire0"
    "churn w_churn fifo-16 retire0"       "churn w_churn fifo-256 retire0"
    "churn w_churn pool retire0"          "churn w_churn multisize retire0"
    "churn w_churn multipage-16 retire0"  "churn w_churn multipage-64 retire0"
    "churn w_churn multipage-256 retire0" "churn w_churn prodcons-64 retire0"
    "zero w_zero calloc-small notrack"    "zero w_zero calloc-fresh notrack"
    "zero w_zero calloc-medium notrack"   "zero w_zero calloc-large notrack"
    "zero w_zero calloc-huge notrack abl_n=8 quick_n=1"   "zero w_zero realloc-vector notrack"
    "zero w_zero string-append notrack"   "zero w_zero rezalloc-chain notrack"
    "threads w_threads larson-2 -"        "threads w_threads larson-4 -"
    "threads w_threads prodcons-2 -"      "threads w_threads prodcons-4 -"
    "threads w_threads falseshare-2 -"    "threads w_threads falseshare-4 -"
    "stress w_stress mstress-4 -"         "stress w_stress mstress-8 -"
    "stress w_stress rptest-2 -"          "stress w_stress rptest-4 -"
    "stress w_stress spawn-2 -"
    "realloc w_app realloc-grow-1 -"      "realloc w_app realloc-grow-4 -"
    "frag w_frag frag -"                  "app w_frag hashmap -"
    "app w_app interp -"
)

progs=$(for spec in "${workloads[@]}"; do read -r _ p _ <<<"$spec"; echo "$p"; done | sort -u)
for p in $progs; do
    for k in fa sys fa_retire0 fa_notrack; do
        [ -x "$BINDIR/${p}_$k" ] || die "missing $BINDIR/${p}_$k (run: make bench-build)"
    done
done

# The allocators (bench/peers.sh): fastalloc compiled in (the _fa build) and preloaded
# (build/lib/libfastalloc.so into the _sys build), the optional newer peers, Debian's, glibc.
# QUICK never installs anything: it runs what is there and skips the rest with one line each.
source "$here/peers.sh"
peers_setup "$( [ "$QUICK" = 1 ] && echo 0 || echo 1)" "$BINDIR/../lib/libfastalloc.so" \
    "$BINDIR/w_churn_sys" pingpong-16 1
names=("${A_NAME[@]}"); libs=("${A_LIB[@]}"); kinds=("${A_KIND[@]}"); descs=("${A_DESC[@]}")
skipped=("${A_SKIPPED[@]+"${A_SKIPPED[@]}"}")
for s in "${skipped[@]+"${skipped[@]}"}"; do
    case $s in *apt-get*) todo+=("sudo apt-get install -y $(sed 's/.*install -y \([^)]*\)).*/\1/' <<<"$s")") ;; esac
done
[ ${#names[@]} -ge 1 ] || die "no allocator to run (ALLOCATORS=${ALLOCATORS:-})"
if [ ${#todo[@]} -gt 0 ]; then
    say "missing pieces; to get the full suite run:"
    printf '    %s\n' "${todo[@]}" | sort -u >&2
fi

# ---- machine and load ------------------------------------------------------------------------
ncpu=$(nproc 2>/dev/null || echo 1)
load_start=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
busy() { awk -v l="$1" -v o="${2:-0}" -v n="$ncpu" 'BEGIN { exit !(l - o > n * 0.5) }'; }
# Other work running right now: procs_running sampled 5 times (minus this sampler), averaged.
running_now() {
    local i s=0
    for i in 1 2 3 4 5; do
        s=$(( s + $(awk '/^procs_running/ { print $2 - 1 }' /proc/stat) )); sleep 0.2
    done
    awk -v s="$s" 'BEGIN { printf "%.1f", s / 5 }'
}
run_start=$(running_now)
busy "$run_start" && say "WARNING: $run_start other processes running on $ncpu CPUs before starting: timings will be noisy"
# What other processes took during the whole run: the machine's busy CPU time (/proc/stat) minus
# this suite's own (its children's user + system time, from `times`), and the VM's steal time.
cpu_stat() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat 2>/dev/null || echo "0 0"; }
# `times` must run in this shell (not a subshell) to see its children: it writes to a file.
own_cpu() { awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }' "$1"; }
times_file=$(mktemp /tmp/fa-suite-times.XXXXXX)
read -r stat_busy0 stat_steal0 < <(cpu_stat)
times > "$times_file"; own0=$(own_cpu "$times_file")
wall0=$(date +%s.%N)

# ---- running ---------------------------------------------------------------------------------
tsv=$OUT/suite.tsv
printf 'set\tworkload\tallocator\tstatus\tn\tpeak_rss_kib\tseconds\tchecksum\tmetrics\n' > "$tsv"
abl_tsv=$OUT/ablation.tsv
recheck_tsv=$OUT/recheck.tsv
RECHECK=${RECHECK:-10}
[[ $RECHECK =~ ^[0-9]+$ ]] || die "RECHECK is a number of runs (0: no rechecks), not '$RECHECK'"
[ "$QUICK" = 1 ] && RECHECK=0
TRAIL_BOUND=1.10   # the issue's bound: fa-preload within this of the fastest peer (report.py's too)
printf 'workload\tpeer\tpairs\tfa_median\tpeer_median\tratio_median\tratio_q1\tratio_q3\n' > "$recheck_tsv"
printf 'workload\tvariant\tn\tkind\tvariant_secs\tdefault_secs\n' > "$abl_tsv"
tmp=$(mktemp -d /tmp/fa-suite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0; fail_list=()

cmd_words() {   # cmd_words LIB BIN ARGS...: the env command, one word per line
    if [ -z "$1" ]; then printf '%s\n' env -u LD_PRELOAD; else printf '%s\n' env "LD_PRELOAD=$1"; fi
    shift; [ ${#runner_words[@]} -gt 0 ] && printf '%s\n' "${runner_words[@]}"; printf '%s\n' "$@"
}

# checked_run TAG LIB BIN W N -> sets r_status r_rss r_secs r_sum r_metrics
checked_run() {
    local tag=$1 lib=$2 bin=$3 w=$4 n=$5 rc
    local -a cmd
    mapfile -t cmd < <(cmd_words "$lib" "$bin" "$w" "$n")
    if [ -n "$TIME_BIN" ]; then
        $TIME_BIN -f '%M %e' -o "$tmp/$tag.time" timeout -k 2 "$TIMEOUT" "${cmd[@]}" \
            > "$tmp/$tag.out" 2> "$tmp/$tag.err"
        rc=$?
        read -r r_rss r_secs < <(tail -n 1 "$tmp/$tag.time")
    else
        local t0; t0=$(date +%s.%N)
        timeout -k 2 "$TIMEOUT" "${cmd[@]}" > "$tmp/$tag.out" 2> "$tmp/$tag.err"
        rc=$?
        r_rss=n/a; r_secs=$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
    fi
    r_sum=$(sed -n 's/^checksum //p' "$tmp/$tag.out" | head -n 1)
    r_metrics=$(grep -E '^[a-z_]+: [0-9]+$' "$tmp/$tag.err" | tr -d ' ' | paste -sd, -)
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then r_status=timeout
    elif [ $rc -ne 0 ] || [ -z "$r_sum" ]; then
        r_status=fail
        say "FAILED: $(basename "$bin") $w $n ${lib:+(LD_PRELOAD=$lib)}: exit $rc"
        sed 's/^/    /' "$tmp/$tag.err" | head -n 5 >&2
    else r_status=ok; fi
    [[ $r_rss =~ ^[0-9]+$ ]] || r_rss=n/a
    [ -n "$r_secs" ] || r_secs=0
}

# spec_commands W N NAME:LIB:BIN... -> spec_names[i], spec_cmds[i]: each allocator's command line
# (words joined by spaces: the suite's paths and arguments hold none), as hyperfine runs it
spec_commands() {
    local w=$1 n=$2 spec name lib bin
    shift 2
    spec_names=(); spec_cmds=()
    for spec in "$@"; do
        IFS=: read -r name lib bin <<< "$spec"
        local -a cmd; mapfile -t cmd < <(cmd_words "$lib" "$bin" "$w" "$n")
        spec_names+=("$name"); spec_cmds+=("${cmd[*]}")
    done
}

# hyperfine_run JSONBASE N W NAME:LIB:BIN...
hyperfine_run() {
    local base=$1 n=$2 w=$3 i
    shift 3
    spec_commands "$w" "$n" "$@"
    local -a args=()
    for i in "${!spec_names[@]}"; do args+=(--command-name "${spec_names[$i]}" "${spec_cmds[$i]}"); done
    hyperfine -N --style none "${hf_opts[@]}" --export-json "$base.json" \
        --export-markdown "$base.hf.md" "${args[@]}" > "$tmp/hf.log" 2>&1 || {
        say "hyperfine FAILED for $w:"; tail -n 5 "$tmp/hf.log" >&2; return 1; }
}

# recheck JSON N W NAME:LIB:BIN...: bench/recheck.py's interleaved second look, when fa-preload
# trailed; its line goes to recheck.tsv
recheck() {
    local json=$1 n=$2 w=$3 i found
    shift 3
    spec_commands "$w" "$n" "$@"
    local -a args=()
    for i in "${!spec_names[@]}"; do args+=("${spec_names[$i]}=${spec_cmds[$i]}"); done
    found=$(python3 "$here/recheck.py" "$json" "$w" "$RECHECK" "$TRAIL_BOUND" "$TIMEOUT" "${args[@]}") ||
        { say "recheck of $w failed (left out)"; return 0; }
    [ -z "$found" ] && return 0
    printf '%s\n' "$found" >> "$recheck_tsv"
    say "recheck $(awk -F'\t' '{ printf "%s: fa-preload / %s over %s alternating pairs, median %.2fx (quartiles %.2f-%.2f)", $1, $2, $3, $6, $7, $8 }' <<< "$found")"
}

declare -A defn
for p in $progs; do
    while read -r w n; do defn[$p.$w]=$n; done < <("$BINDIR/${p}_sys" list)
done

echo "suite.sh: ${#names[@]} allocators (${names[*]}), $( [ "$QUICK" = 1 ] && echo QUICK || echo "hyperfine ${hf_opts[*]}"), timeout ${TIMEOUT}s; results in $OUT" >&2
[ ${#skipped[@]} -gt 0 ] && say "skipped peers: ${skipped[*]}"
for spec in "${workloads[@]}"; do
    read -r set prog w abl opts <<< "$spec"
    [ -n "$ONLY" ] && ! [[ $w =~ $ONLY ]] && continue
    abl_n=; quick_n=
    for o in $opts; do case $o in abl_n=*) abl_n=${o#*=} ;; quick_n=*) quick_n=${o#*=} ;; esac; done
    n=${defn[$prog.$w]:-}
    [ -n "$n" ] || die "$prog has no workload $w"
    if [ "$QUICK" = 1 ]; then n=${quick_n:-$(( (n + 199) / 200 ))}; [ -n "$abl_n" ] && abl_n=1; fi
    rm -f "$OUT/$w.json" "$OUT/$w.hf.md" "$OUT/$w.ablation.json" "$OUT/$w.ablation.hf.md"

    # checked runs (glibc first: its checksum is the reference; without glibc, the first one's)
    order=(); for i in "${!names[@]}"; do [ "${names[$i]}" = glibc ] && order+=("$i"); done
    for i in "${!names[@]}"; do [ "${names[$i]}" != glibc ] && order+=("$i"); done
    ref=; ref_name=; hf_specs=(); line="$w:"
    for i in "${order[@]}"; do
        name=${names[$i]}; bin=$BINDIR/${prog}_${kinds[$i]}
        checked_run "$w.$name" "${libs[$i]}" "$bin" "$w" "$n"
        [ -z "$ref_name" ] && [ "$r_status" = ok ] && { ref=$r_sum; ref_name=$name; }
        if [ "$r_status" = ok ] && [ "$r_sum" != "$ref" ]; then
            r_status=fail; say "FAILED: $name $w: checksum $r_sum != $ref_name's $ref"
        fi
        case $r_status in
            ok) passed=$((passed + 1)) ;;
            timeout) [ "$QUICK" = 1 ] && { failed=$((failed + 1)); fail_list+=("$w/$name timeout"); } ;;
            *) failed=$((failed + 1)); fail_list+=("$w/$name") ;;
        esac
        if [ "$r_status" = ok ] && { [ "$QUICK" = 1 ] || awk -v s="$r_secs" -v l="$SLOW" 'BEGIN { exit !(s <= l) }'; }; then
            hf_specs+=("$name:${libs[$i]}:$bin")
        elif [ "$r_status" = ok ]; then
            r_status=single
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$w" "$name" "$r_status" "$n" "$r_rss" \
            "$r_secs" "$r_sum" "$r_metrics" >> "$tsv"
        line+=" $name ${r_secs}s"
    done
    if [ $HAVE_HF = 1 ] && [ ${#hf_specs[@]} -gt 0 ]; then
        if hyperfine_run "$OUT/$w" "$n" "$w" "${hf_specs[@]}"; then
            [ "$RECHECK" -gt 0 ] && recheck "$OUT/$w.json" "$n" "$w" "${hf_specs[@]}"
        else
            failed=$((failed + 1)); fail_list+=("$w/hyperfine")
        fi
    fi

    # ablation: fastalloc compiled in, default against the variant build, same N (or abl_n)
    if [ "$abl" != - ] && [[ " ${names[*]} " == *" fa-compiled "* ]]; then
        an=${abl_n:-$n}
        checked_run "$w.fa-abl" "" "$BINDIR/${prog}_fa" "$w" "$an"; fa_ok=$r_status; fa_sum=$r_sum; fa_secs=$r_secs
        checked_run "$w.$abl" "" "$BINDIR/${prog}_fa_$abl" "$w" "$an"
        if [ "$r_status" = ok ] && [ "$fa_ok" = ok ] && [ "$r_sum" = "$fa_sum" ] &&
           { [ "$an" != "$n" ] || [ "$r_sum" = "$ref" ] || [ -z "$ref" ]; }; then
            passed=$((passed + 1))
            # A variant slower than SLOW is timed by its checked run alone (marked ¹ in the report).
            kind=hf
            [ "$QUICK" = 0 ] && awk -v s="$r_secs" -v l="$SLOW" 'BEGIN { exit !(s > l) }' && kind=single
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$abl" "$an" "$kind" "$r_secs" "$fa_secs" >> "$abl_tsv"
            if [ $HAVE_HF = 1 ] && [ $kind = hf ]; then
                hyperfine_run "$OUT/$w.ablation" "$an" "$w" "fa-compiled::$BINDIR/${prog}_fa" \
                    "fa-compiled-$abl::$BINDIR/${prog}_fa_$abl" ||
                    { failed=$((failed + 1)); fail_list+=("$w/ablation-hyperfine"); }
            fi
            line+=" | $abl ${r_secs}s"
        elif [ "$r_status" = timeout ] && [ "$QUICK" = 0 ] && [ "$fa_ok" = ok ]; then
            # as in the main table, a variant slower than TIMEOUT is a lower bound, not a failure
            passed=$((passed + 1))
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$abl" "$an" timeout "$TIMEOUT" "$fa_secs" >> "$abl_tsv"
            line+=" | $abl > ${TIMEOUT}s"
        else
            failed=$((failed + 1)); fail_list+=("$w/fa-compiled-$abl ($r_status)")
        fi
    fi
    echo "$line" >&2
done

load_end=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
elapsed=$(( $(date +%s) - t_start ))
read -r stat_busy1 stat_steal1 < <(cpu_stat)
times > "$times_file"; own1=$(own_cpu "$times_file"); rm -f "$times_file"
others_note=$(awk -v b0="$stat_busy0" -v b1="$stat_busy1" -v s0="$stat_steal0" -v s1="$stat_steal1" \
    -v o0="$own0" -v o1="$own1" -v w0="$wall0" -v w1="$(date +%s.%N)" -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" -v n="$ncpu" '
    BEGIN { wall = w1 - w0; if (wall <= 0) wall = 1
            busy = (b1 - b0) / hz; own = o1 - o0; other = busy - own; if (other < 0) other = 0
            printf "other processes used %.0f CPU-s of %.0f (%.2f of the %d cores on average, %.0f%% of the machine), steal %.1f CPU-s; this suite used %.0f CPU-s",
                   other, wall * n, other / wall, n, 100 * other / (wall * n), (s1 - s0) / hz, own }')
others_avg=$(sed -n 's/.*(\([0-9.]*\) of the.*/\1/p' <<<"$others_note")
say "$others_note"

# ---- report ----------------------------------------------------------------------------------
if [ "$QUICK" = 0 ]; then
    cpu=$(sed -n '/^model name/{s/^[^:]*: *//p;q}' /proc/cpuinfo 2>/dev/null)
    glibc=$(ldd --version 2>/dev/null | sed -n '1s/.* //p')
    run_end=$(running_now)
    load_note="load average ${load_start} at start, ${load_end} at end (includes this suite's own runs); other runnable processes ${run_start} at start, ${run_end} at end; during the run $others_note"
    # Judged by the CPU time other processes took over the whole run: procs_running, sampled at
    # the ends, also counts kernel threads caught runnable for an instant (a quiet 2-CPU VM reads
    # 1.0-1.2 there while others use 0 % of it), so it is reported, not judged.
    if busy "${others_avg:-0}"; then
        load_note="$load_note — **WARNING: the machine was busy (other processes above half the $ncpu CPUs): timings are noisy**"
        say "WARNING: machine busy during the run ($load_note)"
    fi
    hdr_sum=$(sha256sum "$here/../fastalloc.h" 2>/dev/null | cut -c1-12)
    peers=$(printf '%s\n' "${descs[@]}")
    OUT="$OUT" NAMES="${names[*]}" MACHINE="${cpu:-unknown CPU}, $ncpu cores, glibc ${glibc:-?}, $(date '+%Y-%m-%d %H:%M %Z')" \
    LOAD_NOTE="$load_note" HF="hyperfine ${hf_opts[*]}" TIMEOUT="$TIMEOUT" SLOW="$SLOW" \
    HDR="$hdr_sum" PEERS="$peers" TRAIL_BOUND="$TRAIL_BOUND" SKIPPED="$(printf '%s\n' "${skipped[@]+"${skipped[@]}"}")" ELAPSED="$elapsed" \
        python3 "$here/report.py" || { failed=$((failed + 1)); fail_list+=("report"); }
    if [ $HAVE_GP = 1 ] && [ -s "$OUT/ratios.dat" ]; then
        gnuplot -e "datafile='$OUT/ratios.dat'; outfile='$OUT/latest.png'" "$here/plot.gp" ||
            { say "gnuplot failed"; failed=$((failed + 1)); fail_list+=("plot"); }
    fi
    say "wrote $OUT/latest.md$( [ $HAVE_GP = 1 ] && echo " and $OUT/latest.png") in ${elapsed}s"
fi
[ ${#fail_list[@]} -gt 0 ] && say "failures: ${fail_list[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
