#!/usr/bin/env bash
# tests/preload/bench.sh LIB OUTDIR — time real programs under different mallocs through LD_PRELOAD.
#
# Allocators: glibc (no preload), fastalloc (LIB), and, when their Debian packages are installed,
# mimalloc (libmimalloc2.0), jemalloc (libjemalloc2) and tcmalloc (libtcmalloc-minimal4).
# Workloads (those of run.sh):
#   python  python3 workload.py
#   sqlite  sqlite3 :memory: < workload.sql
#   lua     lua5.4 workload.lua
#   redis   redis-benchmark -n 100000 -c 8 -t set,get,lpush,lpop against a redis-server started
#           per allocator on 127.0.0.1 (the server is preloaded; the timed client is not)
# Each workload is one hyperfine run comparing the allocators, exported to OUTDIR/preload-W.md and
# OUTDIR/preload-W.json. Peak RSS comes from one extra run per pair under /usr/bin/time -f %M (for
# redis: the server's VmHWM after the benchmark); that run's output must equal glibc's, else the
# pair is marked. OUTDIR/preload.md (printed at the end) and OUTDIR/preload.json gather it all.
# BENCH_RUNS (default 5) and BENCH_WARMUP (default 1) set hyperfine's --runs and --warmup.
set -u

if [ "$#" -ne 2 ]; then
    echo "usage: $0 LIB.so OUTDIR" >&2
    exit 2
fi
if [ ! -f "$1" ]; then echo "bench.sh: $1: no such file" >&2; exit 2; fi
LIB="$(readlink -f "$1")"
mkdir -p "$2" && OUT="$(cd "$2" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUNS="${BENCH_RUNS:-5}"
WARMUP="${BENCH_WARMUP:-1}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fa-bench.XXXXXX")"
SERVERS=()
cleanup() {
    local pid
    for pid in "${SERVERS[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in hyperfine python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench.sh: $tool not installed (apt-get install $tool)" >&2
        exit 2
    fi
done
if [ ! -x /usr/bin/time ]; then echo "bench.sh: /usr/bin/time not installed (apt-get install time)" >&2; exit 2; fi

rm -f "$OUT"/preload.md "$OUT"/preload.json "$OUT"/preload-*.md "$OUT"/preload-*.json
NOTES="$WORK/notes"
: >"$NOTES"
note() { echo "note: $*"; echo "$*" >>"$NOTES"; }

# ---- allocators: NAME and the library to preload ("" for glibc) --------------------------------
find_lib() {
    local f d
    for f in "$@"; do
        for d in "/usr/lib/$(uname -m)-linux-gnu" /usr/lib64 /usr/lib /usr/local/lib; do
            [ -f "$d/$f" ] && { readlink -f "$d/$f"; return 0; }
        done
    done
    return 1
}
ALLOC_NAMES=(glibc fastalloc)
ALLOC_LIBS=("" "$LIB")
add_alloc() {   # NAME PACKAGE FILE...
    local name="$1" pkg="$2" path
    shift 2
    if path="$(find_lib "$@")"; then
        ALLOC_NAMES+=("$name"); ALLOC_LIBS+=("$path")
    else
        note "$name skipped: $1 not found (apt-get install $pkg)"
    fi
}
add_alloc mimalloc libmimalloc2.0 libmimalloc.so.2 libmimalloc.so
add_alloc jemalloc libjemalloc2 libjemalloc.so.2 libjemalloc.so
add_alloc tcmalloc libtcmalloc-minimal4 libtcmalloc_minimal.so.4 libtcmalloc_minimal.so

# prefix I: the command prefix that runs a program under allocator I
prefix() {
    if [ -z "${ALLOC_LIBS[$1]}" ]; then echo "env -u LD_PRELOAD"; else echo "env LD_PRELOAD=${ALLOC_LIBS[$1]}"; fi
}

# ---- one workload: hyperfine over the allocators, then peak RSS and an output check per pair ----
# bench_cmd W CMD: CMD is a shell command whose program follows "@PRE@" (the allocator prefix).
bench_cmd() {
    local w="$1" cmd="$2" i args=()
    for i in "${!ALLOC_NAMES[@]}"; do
        args+=(-n "${ALLOC_NAMES[$i]}" "${cmd//@PRE@/$(prefix "$i")}")
    done
    echo "== $w"
    hyperfine --warmup "$WARMUP" --runs "$RUNS" --style basic \
        --export-markdown "$OUT/preload-$w.md" --export-json "$OUT/preload-$w.json" "${args[@]}" \
        >"$WORK/$w.hyperfine" 2>&1 || { note "$w: hyperfine failed"; tail -n 5 "$WORK/$w.hyperfine"; return 1; }
    for i in "${!ALLOC_NAMES[@]}"; do
        local c="${cmd//@PRE@/$(prefix "$i")}"
        rm -f "$WORK/maps"
        FA_MAPS_OUT="$WORK/maps" /usr/bin/time -f %M -o "$WORK/$w.$i.rss" sh -c "exec $c" >"$WORK/$w.$i.out" 2>"$WORK/$w.$i.err"
        # /usr/bin/time measures sh, which execs the program: the same process.
        echo "$w ${ALLOC_NAMES[$i]} $(tail -n 1 "$WORK/$w.$i.rss")" >>"$WORK/rss"
        # Is the preload in? The loader's warning, and the maps python and lua save on request.
        if grep -q "cannot be preloaded" "$WORK/$w.$i.err" ||
           { [ -n "${ALLOC_LIBS[$i]}" ] && [ -f "$WORK/maps" ] && ! grep -qF "${ALLOC_LIBS[$i]}" "$WORK/maps"; }; then
            note "$w under ${ALLOC_NAMES[$i]}: the preload was not loaded"
        fi
        if ! cmp -s "$WORK/$w.$i.out" "$WORK/$w.0.out"; then
            echo "$w ${ALLOC_NAMES[$i]}" >>"$WORK/mismatch"
            note "$w under ${ALLOC_NAMES[$i]}: output differs from glibc's"
        fi
    done
}

PY="$(command -v python3)"
# A pyenv-style shim would add its own start-up to every run: time the real interpreter.
PY="$("$PY" -c 'import sys; print(sys.executable)' 2>/dev/null || echo "$PY")"
bench_cmd python "@PRE@ $PY $HERE/workload.py"
if command -v sqlite3 >/dev/null 2>&1; then
    bench_cmd sqlite "@PRE@ sqlite3 -bail :memory: < $HERE/workload.sql"
else
    note "sqlite skipped: sqlite3 not installed (apt-get install sqlite3)"
fi
if command -v lua5.4 >/dev/null 2>&1; then
    bench_cmd lua "@PRE@ lua5.4 $HERE/workload.lua"
else
    note "lua skipped: lua5.4 not installed (apt-get install lua5.4)"
fi

# ---- redis: one server per allocator, the timed client against each ---------------------------
free_port() {
    local i p
    for i in $(seq 1 50); do
        p=$((7400 + RANDOM % 1000))
        if command -v ss >/dev/null 2>&1 && ss -ltnH 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$p\$"; then continue; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
        echo "$p"; return 0
    done
    return 1
}
bench_redis() {
    local i args=() ports=() pids=() port pid k
    for i in "${!ALLOC_NAMES[@]}"; do
        port="$(free_port)" || { note "redis skipped: no free port"; return 1; }
        $(prefix "$i") redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --daemonize no --protected-mode yes --dir "$WORK" --logfile "$WORK/redis-$i.log" >/dev/null 2>&1 &
        pid=$!
        SERVERS+=("$pid")
        for k in $(seq 1 100); do
            [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && break
            sleep 0.1
        done
        if [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" != PONG ]; then
            note "redis under ${ALLOC_NAMES[$i]}: server did not start"; return 1
        fi
        if [ -n "${ALLOC_LIBS[$i]}" ] && ! grep -qF "${ALLOC_LIBS[$i]}" "/proc/$pid/maps"; then
            note "redis under ${ALLOC_NAMES[$i]}: the server did not map ${ALLOC_LIBS[$i]}"
        fi
        ports+=("$port"); pids+=("$pid")
        args+=(-n "${ALLOC_NAMES[$i]}" "redis-benchmark -h 127.0.0.1 -p $port -n 100000 -c 8 -q -t set,get,lpush,lpop")
    done
    echo "== redis"
    hyperfine --warmup "$WARMUP" --runs "$RUNS" --style basic \
        --export-markdown "$OUT/preload-redis.md" --export-json "$OUT/preload-redis.json" "${args[@]}" \
        >"$WORK/redis.hyperfine" 2>&1 || { note "redis: hyperfine failed"; tail -n 5 "$WORK/redis.hyperfine"; }
    for i in "${!pids[@]}"; do
        # the data after the runs: one 3-byte key, the list pushed and popped empty
        local got; got="$(timeout 5 redis-cli -h 127.0.0.1 -p "${ports[$i]}" GET key:__rand_int__ 2>/dev/null)/$(timeout 5 redis-cli -h 127.0.0.1 -p "${ports[$i]}" DBSIZE 2>/dev/null)"
        [ "$got" = "VXK/1" ] || note "redis under ${ALLOC_NAMES[$i]}: data after the benchmark is '$got', want VXK/1"
        echo "redis ${ALLOC_NAMES[$i]} $(awk '/^VmHWM/ {print $2}' "/proc/${pids[$i]}/status")" >>"$WORK/rss"
        timeout 5 redis-cli -h 127.0.0.1 -p "${ports[$i]}" shutdown nosave >/dev/null 2>&1
        for k in $(seq 1 50); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.1; done
        kill -9 "${pids[$i]}" 2>/dev/null
        wait "${pids[$i]}" 2>/dev/null
    done
    SERVERS=()
}
if command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; then
    if ldd "$(command -v redis-server)" 2>/dev/null | grep -q jemalloc; then
        note "redis-server is linked with libjemalloc: its 'glibc' (no preload) row is that jemalloc"
    fi
    bench_redis
else
    note "redis skipped: redis-server/redis-benchmark not installed (apt-get install redis-server redis-tools)"
fi

# ---- the combined table --------------------------------------------------------------------------
python3 - "$OUT" "$WORK/rss" "$NOTES" "$WORK/mismatch" "$LIB" "$RUNS" <<'EOF'
import json, os, sys
out, rss_file, notes_file, mismatch_file, lib, runs = sys.argv[1:]
rss = {}
if os.path.exists(rss_file):
    for line in open(rss_file):
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            rss[(parts[0], parts[1])] = int(parts[2])
mismatch = set()
if os.path.exists(mismatch_file):
    mismatch = {tuple(l.split()) for l in open(mismatch_file) if l.strip()}
rows, merged = [], {"lib": lib, "runs": int(runs), "workloads": {}, "peak_rss_kib": {}}
for w in ("python", "sqlite", "lua", "redis"):
    path = os.path.join(out, "preload-%s.json" % w)
    if not os.path.exists(path):
        continue
    res = json.load(open(path))["results"]
    merged["workloads"][w] = res
    base = next((r["mean"] for r in res if r["command"] == "glibc"), None)
    for r in res:
        name = r["command"]
        kib = rss.get((w, name))
        merged["peak_rss_kib"].setdefault(w, {})[name] = kib
        rows.append("| %s | %s | %.1f ± %.1f | %s | %s |%s" % (
            w, name, r["mean"] * 1000, (r.get("stddev") or 0) * 1000,
            "%.2f" % (r["mean"] / base) if base else "-",
            "%.1f" % (kib / 1024) if kib else "-",
            " output differs!" if (w, name) in mismatch else ""))
notes = [l.strip() for l in open(notes_file)] if os.path.exists(notes_file) else []
merged["notes"] = notes
with open(os.path.join(out, "preload.json"), "w") as f:
    json.dump(merged, f, indent=2)
md = ["# LD_PRELOAD benchmark (hyperfine, %s runs)" % runs, "",
      "Time is wall-clock per run; relative is to glibc (lower is faster). Peak RSS: /usr/bin/time %M",
      "of one run; for redis the server's VmHWM after all runs (the timed program is redis-benchmark).",
      "", "| workload | allocator | mean ± σ (ms) | relative | peak RSS (MiB) |",
      "|:--|:--|--:|--:|--:|"] + rows
if notes:
    md += [""] + ["- " + n for n in notes]
with open(os.path.join(out, "preload.md"), "w") as f:
    f.write("\n".join(md) + "\n")
EOF
[ -f "$OUT/preload.md" ] || { echo "bench.sh: no table made" >&2; exit 1; }
echo
cat "$OUT/preload.md"
