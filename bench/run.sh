#!/usr/bin/env bash
# bench/run.sh -- wall-clock micro-benchmarks (bench/micro.c): fastalloc, preloaded and compiled in,
# against glibc and the peers of bench/peers.sh. Behind `make bench-micro`.
#
# usage: bench/run.sh FA_BIN SYS_BIN [OUTDIR]
#   FA_BIN   bench/micro.c built with -DBENCH_FASTALLOC (fa-compiled)
#   SYS_BIN  bench/micro.c built without it (system malloc); libfastalloc.so (fa-preload) and the
#            peers run as LD_PRELOAD=libX.so SYS_BIN, i.e. the same machine code as the glibc run
#   OUTDIR   where WORKLOAD.json (hyperfine --export-json), rss.tsv and latest.md go
#            (default: bench/results/micro next to this script)
# env:
#   RUNS=10        hyperfine --runs (after --warmup 2)
#   QUICK=1        --runs 2 --warmup 0 and tiny N: a smoke test that takes seconds
#   ALLOCATORS, FASTALLOC_SO (default: FA_BIN's ../lib/libfastalloc.so), MIMALLOC3_SO,
#   RPMALLOC2_SO, SNMALLOC_SO, MIMALLOC_SO, JEMALLOC_SO, TCMALLOC_SO   as for bench/suite.sh
#
# One hyperfine invocation per workload compares all allocators. Every command is started
# as `env [-u LD_PRELOAD | LD_PRELOAD=lib] BIN ...` without a shell (hyperfine -N), so each
# allocator pays the same exec overhead. Then each allocator runs once more under
# /usr/bin/time -f %M for its peak RSS; that run's checksum must match across allocators.
# latest.md: median ms per workload x allocator, ratio allocator_time / fa-preload time
# (> 1: fastalloc is faster), peak RSS, and the geometric mean of the ratios.
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 1; }

if [ $# -lt 2 ] || [ $# -gt 3 ]; then die "usage: bench/run.sh FA_BIN SYS_BIN [OUTDIR]"; fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FA_BIN=$(realpath "$1")
SYS_BIN=$(realpath "$2")
OUTDIR=${3:-$here/results/micro}
[ -x "$FA_BIN" ] || die "FA_BIN '$1' is not an executable"
[ -x "$SYS_BIN" ] || die "SYS_BIN '$2' is not an executable"
mkdir -p "$OUTDIR"
OUTDIR=$(realpath "$OUTDIR")

is_root() { [ "$(id -u)" -eq 0 ]; }

# apt_install PKG: installs PKG with apt-get when root (refreshing the index if needed).
apt_install() {
    is_root && command -v apt-get >/dev/null || return 1
    echo "run.sh: installing $1 with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$1" >&2 ||
        { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "$1" >&2; }
}

# --- tools --------------------------------------------------------------------------------
if ! command -v hyperfine >/dev/null; then
    apt_install hyperfine || true
    if ! command -v hyperfine >/dev/null; then
        echo "run.sh: hyperfine is required but missing. Install it with:" >&2
        echo "    sudo apt-get install -y hyperfine      # or: cargo install hyperfine" >&2
        exit 1
    fi
fi
command -v python3 >/dev/null || die "python3 is required to build the report (apt-get install -y python3)"

TIME_BIN=/usr/bin/time
if [ ! -x "$TIME_BIN" ]; then
    apt_install time || true
    if [ ! -x "$TIME_BIN" ]; then
        echo "run.sh: /usr/bin/time missing and cannot be installed here (not root?);" \
             "peak RSS will be n/a. Fix: sudo apt-get install -y time" >&2
        TIME_BIN=
    fi
fi

# hyperfine >= 1.13 can run commands without an intermediate shell.
hf_noshell=()
if hyperfine --help 2>/dev/null | grep -- "--shell=none" >/dev/null; then
    hf_noshell=(-N)
else
    echo "run.sh: old hyperfine without -N: commands go through a shell (hyperfine subtracts its cost)" >&2
fi

# --- allocators ---------------------------------------------------------------------------
# names[i], preload[i] (library path, or empty), bins[i]
source "$here/peers.sh"
peers_setup 0 "$(dirname "$FA_BIN")/../lib/libfastalloc.so" "$SYS_BIN" pingpong 16 1
names=("${A_NAME[@]}"); preload=("${A_LIB[@]}"); bins=(); skipped=("${A_SKIPPED[@]+"${A_SKIPPED[@]}"}")
for k in "${A_KIND[@]}"; do if [ "$k" = fa ]; then bins+=("$FA_BIN"); else bins+=("$SYS_BIN"); fi; done

# env_args I: prints, NUL-separated, the `env ...` words that start allocator I.
env_args() {
    if [ -z "${preload[$1]}" ]; then printf '%s\0' env -u LD_PRELOAD
    else printf '%s\0' env "LD_PRELOAD=${preload[$1]}"; fi
}

# --- workloads ----------------------------------------------------------------------------
# "name|args"; with QUICK=1 an explicit small N is appended, otherwise micro's defaults apply.
workloads=()
for s in 16 64 256 1024; do workloads+=("pingpong-$s|pingpong $s"); done
for s in 16 64 256 1024; do workloads+=("batch-$s|batch $s"); done
workloads+=("batchfifo-64|batchfifo 64" "mix|mix")

if [ "${QUICK:-0}" = 1 ]; then
    hf_opts=(--runs 2 --warmup 0)
    quick_n() { case $1 in pingpong*) echo 200000 ;; *) echo 100000 ;; esac; }
else
    hf_opts=(--runs "${RUNS:-10}" --warmup 2)
    quick_n() { :; }
fi

# Wall-clock numbers are only meaningful on a quiet machine: note the load around the runs.
load_start=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
ncpu=$(nproc 2>/dev/null || echo 1)
# busy LOAD [OWN]: LOAD (minus OWN, our own runnable processes) exceeds 3/4 of the CPUs.
busy() { awk -v l="$1" -v o="${2:-0}" -v n="$ncpu" 'BEGIN { exit !(l - o > n * 0.75) }'; }
busy "$load_start" && echo "run.sh: WARNING: load average $load_start on $ncpu CPUs: timings will be noisy" >&2

rss_tsv=$OUTDIR/rss.tsv
printf 'workload\tallocator\tpeak_rss_kib\tchecksum\n' > "$rss_tsv"
failed=()
wl_names=()
for w in "${workloads[@]}"; do
    wname=${w%%|*}
    args=${w#*|}
    n=$(quick_n "$args")
    [ -n "$n" ] && args="$args $n"
    wl_names+=("$wname")
    echo >&2
    echo "=== $wname: micro $args" >&2
    cmd=()
    for i in "${!names[@]}"; do
        mapfile -d '' -t e < <(env_args "$i")
        cmd+=(--command-name "${names[$i]}" "$(printf '%q ' "${e[@]}" "${bins[$i]}")$args")
    done
    rm -f "$OUTDIR/$wname.json"
    if ! hyperfine ${hf_noshell[@]+"${hf_noshell[@]}"} "${hf_opts[@]}" --export-json "$OUTDIR/$wname.json" "${cmd[@]}"; then
        echo "run.sh: hyperfine FAILED for $wname (a command exited non-zero?)" >&2
        failed+=("$wname")
        rm -f "$OUTDIR/$wname.json"
    fi
    # One extra run per allocator: peak RSS and checksum.
    for i in "${!names[@]}"; do
        rss=n/a
        tmp_time=$(mktemp)
        mapfile -d '' -t e < <(env_args "$i")
        # shellcheck disable=SC2086  # $args is deliberately word-split
        if [ -n "$TIME_BIN" ]; then
            out=$("$TIME_BIN" -f %M -o "$tmp_time" "${e[@]}" "${bins[$i]}" $args) || out="exit-status-$?"
            rss=$(tail -n 1 "$tmp_time")
        else
            out=$("${e[@]}" "${bins[$i]}" $args) || out="exit-status-$?"
        fi
        rm -f "$tmp_time"
        printf '%s\t%s\t%s\t%s\n' "$wname" "${names[$i]}" "$rss" "${out#checksum }" >> "$rss_tsv"
    done
done

# --- report -------------------------------------------------------------------------------
load_end=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
load_note="load average $load_start at start, $load_end at end ($ncpu CPUs)"
if busy "$load_start" || busy "$load_end" 1; then   # the benchmark itself adds ~1 at the end
    echo "run.sh: WARNING: $load_note: the machine was busy, timings are noisy" >&2
    load_note="**$load_note: the machine was busy, timings are noisy**"
fi
glibc_ver=$(ldd --version 2>/dev/null | sed -n '1s/^ldd //p')
cpu=$(sed -n '/^model name/{s/^[^:]*: *//p;q}' /proc/cpuinfo 2>/dev/null || true)
# Identify what was measured: FA_BIN's own hash, and whether fastalloc.h changed after it was built.
fa_hdr=$here/../fastalloc.h
fa_sum="FA_BIN sha256 $(sha256sum "$FA_BIN" | cut -c1-12)"
if [ -f "$fa_hdr" ]; then
    fa_sum+=", fastalloc.h now sha256 $(sha256sum "$fa_hdr" | cut -c1-12)"
    if [ "$fa_hdr" -nt "$FA_BIN" ]; then
        fa_sum+=" (**newer than FA_BIN: the numbers are for an older fastalloc.h**)"
        echo "run.sh: WARNING: $fa_hdr is newer than $FA_BIN; rebuild FA_BIN to measure the current code" >&2
    fi
fi
peers_desc=""
for i in "${!names[@]}"; do
    if [ -n "${preload[$i]}" ]; then
        peers_desc+="- ${names[$i]}: LD_PRELOAD=${preload[$i]} $(basename "${bins[$i]}")"$'\n'
    else
        peers_desc+="- ${names[$i]}: $(basename "${bins[$i]}")"$'\n'
    fi
done
skipped_desc=""
for s in "${skipped[@]+"${skipped[@]}"}"; do skipped_desc+="- skipped $s"$'\n'; done

OUTDIR="$OUTDIR" NAMES="${names[*]}" WORKLOADS="${wl_names[*]}" \
HF_OPTS="${hf_opts[*]}" QUICK_MODE="${QUICK:-0}" GLIBC_VER="$glibc_ver" CPU="$cpu" \
FA_SUM="$fa_sum" LOAD_NOTE="$load_note" PEERS_DESC="$peers_desc" SKIPPED_DESC="$skipped_desc" \
python3 - <<'PY'
import csv, datetime, json, math, os

out = os.environ["OUTDIR"]
names = os.environ["NAMES"].split()
workloads = os.environ["WORKLOADS"].split()

base = next((a for a in ("fa-preload", "fa-compiled") if a in names), names[0])
median = {}  # (workload, allocator) -> seconds
for w in workloads:
    try:
        with open(os.path.join(out, w + ".json")) as f:
            data = json.load(f)
    except (OSError, ValueError):
        continue
    for r in data["results"]:
        median[(w, r["command"])] = r["median"]

rss, csum = {}, {}
with open(os.path.join(out, "rss.tsv")) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        rss[(row["workload"], row["allocator"])] = row["peak_rss_kib"]
        csum[(row["workload"], row["allocator"])] = row["checksum"]

ratios = {a: [] for a in names}
lines = []
lines.append("# fastalloc micro-benchmarks\n")
lines.append("%s · %s · %s · %s · hyperfine %s%s\n" % (
    datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), os.environ["CPU"], os.environ["GLIBC_VER"],
    os.environ["FA_SUM"], os.environ["HF_OPTS"], " · QUICK (tiny N)" if os.environ["QUICK_MODE"] == "1" else ""))
lines.append(os.environ["LOAD_NOTE"] + "\n")
lines.append(os.environ["PEERS_DESC"] + os.environ["SKIPPED_DESC"])
lines.append("Cells: median wall time, (ratio = allocator time / %s time; > 1 means fastalloc "
             "is faster), peak RSS from one extra run (`/usr/bin/time -f %%M`).\n" % base)
lines.append("| workload | " + " | ".join(names) + " |")
lines.append("|---|" + "---:|" * len(names))
notes = []
for w in workloads:
    fa = median.get((w, base))
    cells = []
    for a in names:
        t = median.get((w, a))
        if t is None:
            cells.append("failed")
            continue
        cell = "%.1f ms" % (t * 1e3)
        if a != base and fa:
            ratio = t / fa
            ratios[a].append(ratio)
            cell += " (%.2f×)" % ratio
        r = rss.get((w, a), "n/a")
        if r not in ("n/a", ""):
            cell += " · %.1f MiB" % (int(r) / 1024)
        cells.append(cell)
    sums = {csum.get((w, a)) for a in names}
    if len(sums) > 1:
        notes.append("- **%s: checksums differ between allocators**: %s" % (
            w, ", ".join("%s=%s" % (a, csum.get((w, a))) for a in names)))
    lines.append("| %s | %s |" % (w.replace("-", " "), " | ".join(cells)))
geo = []
for a in names:
    if a == base:
        geo.append("1.00×")
    elif ratios[a]:
        geo.append("**%.2f×**" % math.exp(sum(math.log(x) for x in ratios[a]) / len(ratios[a])))
    else:
        geo.append("n/a")
lines.append("| **geomean ratio** | " + " | ".join(geo) + " |")
if notes:
    lines.append("")
    lines.extend(notes)
text = "\n".join(lines) + "\n"
with open(os.path.join(out, "latest.md"), "w") as f:
    f.write(text)
print(text)
PY

echo "run.sh: wrote $OUTDIR/latest.md" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "run.sh: FAILED workloads: ${failed[*]}" >&2
    exit 1
fi
if grep -q 'checksums differ' "$OUTDIR/latest.md"; then
    echo "run.sh: checksums differ between allocators, see $OUTDIR/latest.md" >&2
    exit 1
fi
