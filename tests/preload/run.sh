#!/usr/bin/env bash
# tests/preload/run.sh LIB [BUILD] — prove that LIB (libfastalloc.so, built with FASTALLOC_OVERRIDE)
# works as the malloc of real, unmodified programs through LD_PRELOAD.
#
# Every check runs its workload with LD_PRELOAD=LIB under a timeout and verifies its *output*:
# against values derived independently (formulas, or the same data made by other tools — see the
# comments at each check), against the same workload run without the preload, and that the
# preloaded process really mapped LIB (its /proc/PID/maps, or which object its malloc resolves to).
#   0 preload-active   python3 ctypes: global malloc is LIB's malloc, fa_malloc resolves, LIB mapped
#   1 python3          workload.py: dicts, lists, strings, sort, join, sha256
#   2 sqlite3          workload.sql: 100k rows from a recursive CTE, index, aggregates, updates
#   3 lua5.4           workload.lua: tables, string.format, table.sort, binary trees, gc
#   4 redis            redis-server on 127.0.0.1:free port; redis-benchmark, then data checks
#   5 stress_sys       stress_sys.c: multi-threaded malloc/calloc/realloc/memalign/usable_size
#   6 fork_threads     fork_threads.c: 50 forks while 4 threads allocate; children allocate
#   7 dlopen           dlopen_main.c + dlopen_lib.c: blocks across dlopen/dlclose, both ways
#   7b free_thread     free_thread.c: threads that only free (owner alive, exited, concurrent)
#   8 exit_live        exit_live.c: allocation in constructors, exit with live blocks, atexit
# The C helpers are built here with gcc (-O2 -g -pthread -Wall -Wextra -Werror) against the system
# allocator, into BUILD (default: a temporary directory). A missing program is installed with
# apt-get when running as root, else its check is SKIPPED naming the package.
# Prints one PASS/FAIL/SKIPPED line per check, then "N passed, N failed" as the last line;
# exits non-zero iff a check failed.
set -u

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    echo "usage: $0 LIB.so [BUILD_DIR]" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "run.sh: $1: no such file" >&2
    exit 2
fi
LIB="$(readlink -f "$1")"
LIBNAME="$(basename "$LIB")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fa-preload.XXXXXX")"
if [ -n "${2:-}" ]; then
    mkdir -p "$2" && BUILD="$(cd "$2" && pwd)"
else
    BUILD="$WORK/build"
    mkdir -p "$BUILD"
fi
REDIS_PID=""

cleanup() {
    if [ -n "$REDIS_PID" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill -9 "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

. "$HERE/report.sh"

# Run a command with the preload / without any preload, under a timeout: T OUT ERR CMD...
pre() { local t="$1" o="$2" e="$3"; shift 3; timeout -k 5 "$t" env LD_PRELOAD="$LIB" "$@" >"$o" 2>"$e"; }
sys() { local t="$1" o="$2" e="$3"; shift 3; timeout -k 5 "$t" env -u LD_PRELOAD "$@" >"$o" 2>"$e"; }
# Describe an exit status: "exit 3", "timed out", "killed by signal 11".
status() {
    case "$1" in
        124) echo "timed out" ;;
        137) echo "timed out (killed)" ;;
        0) echo "exit 0" ;;
        *) if [ "$1" -gt 128 ]; then echo "killed by signal $(($1 - 128))"; else echo "exit $1"; fi ;;
    esac
}
# The dynamic loader only warns (and goes on without it) when a preload cannot be loaded.
preload_refused() { grep -q "cannot be preloaded" "$1"; }

# need PROGRAM PACKAGE: true if PROGRAM is there, installing PACKAGE with apt-get if root.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        timeout 600 apt-get install -y -qq "$2" >>"$WORK/apt.log" 2>&1 ||
            { timeout 600 apt-get update -qq >>"$WORK/apt.log" 2>&1 &&
              timeout 600 apt-get install -y -qq "$2" >>"$WORK/apt.log" 2>&1; }
    fi
    command -v "$1" >/dev/null 2>&1
}
why_missing() { echo "$1 not installed (apt-get install $2)"; }

# verify NAME PRE SYS EXPECTED MAPS_OR_EMPTY DETAIL: the usual ending of a check. The preloaded
# output must equal the expected text and the output without the preload; MAPS (a copy of the
# preloaded process's /proc/PID/maps) must contain LIB.
verify() {
    local name="$1" pre_out="$2" sys_out="$3" expected="$4" maps="$5" detail="$6"
    if ! cmp -s "$pre_out" "$expected"; then
        diff "$expected" "$pre_out" >"$WORK/$name.diff" 2>&1
        fail "$name" "preloaded output differs from the expected values" "$WORK/$name.diff"
    elif ! cmp -s "$pre_out" "$sys_out"; then
        diff "$sys_out" "$pre_out" >"$WORK/$name.diff" 2>&1
        fail "$name" "preloaded output differs from the run without preload" "$WORK/$name.diff"
    elif [ -n "$maps" ] && ! grep -qF "$LIB" "$maps" 2>/dev/null; then
        fail "$name" "the preloaded process did not map $LIB"
    else
        pass "$name" "$detail"
    fi
}

# ---------------------------------------------------------------------------------------------
# 0. The preload is in force: in a preloaded python3, the malloc every library reaches is LIB's.
check_active() {
    local name="preload-active"
    if ! need python3 python3; then skip "$name" "$(why_missing python3 python3)"; return; fi
    local o="$WORK/active.out" e="$WORK/active.err" rc
    pre 30 "$o" "$e" python3 -c '
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
glob = ctypes.CDLL(None)
addr = lambda f: ctypes.cast(f, ctypes.c_void_p).value
print("interposed", addr(glob.malloc) == addr(lib.malloc) and addr(glob.free) == addr(lib.free))
print("fa_malloc", addr(glob.fa_malloc) == addr(lib.fa_malloc))
print("mapped", sys.argv[1] in open("/proc/self/maps").read())
' "$LIB"
    rc=$?
    printf 'interposed True\nfa_malloc True\nmapped True\n' >"$WORK/active.exp"
    if [ "$rc" -ne 0 ]; then fail "$name" "python3 $(status "$rc")" "$o" "$e"
    elif preload_refused "$e"; then fail "$name" "the loader refused the preload" "$e"
    elif ! cmp -s "$o" "$WORK/active.exp"; then fail "$name" "malloc is not LIB's (see output)" "$o" "$e"
    else pass "$name" "malloc/free resolve to $LIBNAME, fa_malloc visible, mapped"
    fi
}

# 1. python3 ----------------------------------------------------------------------------------
# Expected values, derived without Python:
#   sha256  = sha256 of the lines "item<j>=<j*j>" for j = 0..199999 in byte order, each ending in
#             a newline:  seq 0 199999 | awk '{printf "item%d=%.0f\n",$1,$1*$1}' | LC_ALL=C sort | sha256sum
#   groups  = 200000 = 7*28571 + 3: residues 0..2 of i%7 get one more
#   namelen = sum of len("r"+str(i)), i < 200000: 10*2 + 90*3 + 900*4 + 9000*5 + 90000*6 + 100000*7
#   first/last: sorted by (i%11, -i): the largest i with i%11 == 0 is 199991; the smallest with 10 is 10
#   joined  = sum over i < 50000 of 2*(i%97) + len(str(i)), plus 49999 separators; its sha256 prefix:
#             awk 'BEGIN{for(i=0;i<50000;i++){s="";for(k=0;k<i%97;k++)s=s "yz";
#                  printf "%s%s%d",(i?"|":""),s,i}}' | sha256sum
#   listsum = 20 rounds * 100 cycles * sum of m(m-1)/2 for m < 50 (= C(50,3) = 19600)
check_python() {
    local name="python3"
    if ! need python3 python3; then skip "$name" "$(why_missing python3 python3)"; return; fi
    cat >"$WORK/py.exp" <<'EOF'
keys 200000
sha256 576e9aaec6873b9d45280b2ade9c85a314b0269ff7e2a6b577d9d81bc25e77c0
groups 0:28572 1:28572 2:28572 3:28571 4:28571 5:28571 6:28571
namelen 1288890
first 199991 last 10
joined 5086549 0134afaa283b40dd
listsum 39200000
EOF
    local rc
    sys 60 "$WORK/py.sys" "$WORK/py.sys.err" python3 "$HERE/workload.py"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "run without preload: $(status "$rc")" "$WORK/py.sys.err"; return; fi
    FA_MAPS_OUT="$WORK/py.maps" pre 60 "$WORK/py.pre" "$WORK/py.pre.err" python3 "$HERE/workload.py"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "preloaded: $(status "$rc")" "$WORK/py.pre" "$WORK/py.pre.err"; return; fi
    if preload_refused "$WORK/py.pre.err"; then fail "$name" "the loader refused the preload" "$WORK/py.pre.err"; return; fi
    verify "$name" "$WORK/py.pre" "$WORK/py.sys" "$WORK/py.exp" "$WORK/py.maps" \
        "workload.py output = expected digests and counts = unpreloaded run; $LIBNAME mapped"
}

# 2. sqlite3 ----------------------------------------------------------------------------------
# Expected values over x = 1..100000 (see workload.sql):
#   sum(x) = n(n+1)/2, sum(x*x) = n(n+1)(2n+1)/6, names 'row%06d' are 9 chars, pads 20 + x%50 chars
#   group g >= 1: x = 10k+g, k < 10000: sum = 10*49995000 + 10000g; group 0: 10*(1..10000) = 500050000
#   indexed: x > 50000 with x%10 == 3 -> 5000; sorted: (x*7919)%100000 is a permutation of 0..99999
#   padsort: the longest run of 'Z' needs x%26 == 25 and x%50 == 49, i.e. x%650 == 649
#   updated: 50000 even x get 2 more chars; deleted: 33333 multiples of 3 go, sum - 3*33333*33334/2
#   distinct: x/100 for the rest covers 0..1000; join: a%10 == 1, a and a+1 not multiples of 3 ->
#   a%30 == 1 -> 3334; strings: 66667*9 + 33334 even survivors*2 + 66666 commas
check_sqlite() {
    local name="sqlite3"
    if ! need sqlite3 sqlite3; then skip "$name" "$(why_missing sqlite3 sqlite3)"; return; fi
    {
        echo "group|0|10000|500050000|row000010|row100000"
        local g
        for g in 1 2 3 4 5 6 7 8 9; do
            echo "group|$g|10000|$((499950000 + 10000 * g))|row00000$g|row0999$((90 + g))"
        done
    } >"$WORK/sql.groups"
    {
        echo "count|100000|$((100000 * 100001 / 2))|$((100000 * 100001 * 200001 / 6))|900000|$((100000 * 20 + 2000 * 1225))"
        cat "$WORK/sql.groups"
        echo "indexed|5000"
        echo "sorted|100000"
        echo "padsort|99449,98799,98149"
        printf 'top|row100000\ntop|row099999\ntop|row099998\n'
        echo "updated|1000000"
        echo "deleted|66667|$((100000 * 100001 / 2 - 3 * 33333 * 33334 / 2))"
        echo "distinct|1001"
        echo "join|3334"
        echo "strings|$((66667 * 9 + 33334 * 2 + 66666))"
    } >"$WORK/sql.exp"
    local rc
    # The preloaded run also saves its own maps: .shell runs sh as a child of sqlite3.
    { cat "$HERE/workload.sql"; echo ".shell cat /proc/\$PPID/maps > '$WORK/sql.maps'"; } >"$WORK/sql.pre.in"
    sys 60 "$WORK/sql.sys" "$WORK/sql.sys.err" sqlite3 -bail :memory: <"$HERE/workload.sql"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "run without preload: $(status "$rc")" "$WORK/sql.sys.err"; return; fi
    pre 60 "$WORK/sql.pre" "$WORK/sql.pre.err" sqlite3 -bail :memory: <"$WORK/sql.pre.in"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "preloaded: $(status "$rc")" "$WORK/sql.pre" "$WORK/sql.pre.err"; return; fi
    if preload_refused "$WORK/sql.pre.err"; then fail "$name" "the loader refused the preload" "$WORK/sql.pre.err"; return; fi
    verify "$name" "$WORK/sql.pre" "$WORK/sql.sys" "$WORK/sql.exp" "$WORK/sql.maps" \
        "100k-row CTE/index/aggregates/update/delete/join = formulas = unpreloaded run; $LIBNAME mapped"
}

# 3. lua5.4 -----------------------------------------------------------------------------------
# Expected values (see workload.lua):
#   sorted: 200000 strings "k%06d" of a permutation, descending, each in place; concat = 200000*7 + 199999
#   hash: sum(i) + sum(len(tostring(2i))) + sum(i%3) for i = 1..200000
#         = 20000100000 + (4*1 + 45*2 + 450*3 + 4500*4 + 45000*5 + 150001*6) + (66666*3 + 1 + 2)
#   trees: sum over d = 4,6,..,14 of 2^(18-d) trees of 2^(d+1)-1 nodes = 6*2^19 - (2^14+2^12+..+2^4)
#   strings: 20000 one-char appends, the accumulator emptied at each 1000
check_lua() {
    local name="lua5.4"
    if ! need lua5.4 lua5.4; then skip "$name" "$(why_missing lua5.4 lua5.4)"; return; fi
    {
        printf 'sorted\t200000\tbad\t0\tconcat\t%d\n' $((200000 * 7 + 199999))
        printf 'hash\t200000\t%d\n' $((20000100000 + 4 + 90 + 1350 + 18000 + 225000 + 900006 + 199998 + 3))
        printf 'trees\t%d\n' $((6 * (1 << 19) - (1 << 14) - (1 << 12) - (1 << 10) - (1 << 8) - (1 << 6) - (1 << 4)))
        printf 'strings\t20000\t0\n'
    } >"$WORK/lua.exp"
    local rc
    sys 60 "$WORK/lua.sys" "$WORK/lua.sys.err" lua5.4 "$HERE/workload.lua"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "run without preload: $(status "$rc")" "$WORK/lua.sys.err"; return; fi
    FA_MAPS_OUT="$WORK/lua.maps" pre 60 "$WORK/lua.pre" "$WORK/lua.pre.err" lua5.4 "$HERE/workload.lua"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "preloaded: $(status "$rc")" "$WORK/lua.pre" "$WORK/lua.pre.err"; return; fi
    if preload_refused "$WORK/lua.pre.err"; then fail "$name" "the loader refused the preload" "$WORK/lua.pre.err"; return; fi
    verify "$name" "$WORK/lua.pre" "$WORK/lua.sys" "$WORK/lua.exp" "$WORK/lua.maps" \
        "tables/sort/trees/strings = formulas = unpreloaded run; $LIBNAME mapped"
}

# 4. redis ------------------------------------------------------------------------------------
free_port() {
    local i p
    for i in $(seq 1 50); do
        p=$((6400 + RANDOM % 1000))
        if command -v ss >/dev/null 2>&1 && ss -ltnH 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$p\$"; then continue; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
        echo "$p"
        return 0
    done
    return 1
}

# start_redis MODE(pre|sys) LOG: starts redis-server on 127.0.0.1:$PORT; sets REDIS_PID.
start_redis() {
    local mode="$1" log="$2" i
    local args=(redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no
                --daemonize no --protected-mode yes --dir "$WORK" --logfile "$log")
    if [ "$mode" = pre ]; then env LD_PRELOAD="$LIB" "${args[@]}" >/dev/null 2>"$log.err" &
    else env -u LD_PRELOAD "${args[@]}" >/dev/null 2>"$log.err" &
    fi
    REDIS_PID=$!
    for i in $(seq 1 100); do
        [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ] && return 0
        kill -0 "$REDIS_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# stop_redis: SHUTDOWN NOSAVE, then wait up to 10 s, then SIGKILL. Returns the server's status.
stop_redis() {
    local i rc
    timeout 5 redis-cli -h 127.0.0.1 -p "$PORT" shutdown nosave >/dev/null 2>&1
    for i in $(seq 1 100); do
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$REDIS_PID" 2>/dev/null; then
        kill -9 "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        REDIS_PID=""
        return 124
    fi
    wait "$REDIS_PID"
    rc=$?
    REDIS_PID=""
    return "$rc"
}

# The data script (one command a line for redis-cli) and its expected replies, all by construction.
redis_script() {
    local i args
    {
        echo "SET greeting hello"; echo "GET greeting"; echo "APPEND greeting ,world"; echo "GET greeting"
        for i in $(seq 1 100); do echo "INCRBY counter $i"; done
        for i in $(seq 1 2000); do echo "APPEND grow abcde"; done
        echo "STRLEN grow"
        args=""; for i in $(seq 1 1000); do args="$args v$i"; done; echo "LPUSH list$args"
        echo "LLEN list"; echo "LRANGE list 0 2"; echo "LPOP list 10"; echo "RPOP list"; echo "LLEN list"
        args=""; for i in $(seq 1 500); do args="$args f$i $i"; done; echo "HSET h$args"
        echo "HLEN h"; echo "HGET h f250"; echo "HGET h nofield"
        args=""; for i in $(seq 1 1000); do args="$args m$i"; done; echo "SADD s$args"
        echo "SCARD s"; echo "SISMEMBER s m777"; echo "SISMEMBER s m1001"
        args=""; for i in $(seq 1 100); do args="$args $i z$i"; done; echo "ZADD z$args"
        echo "ZRANGE z 0 2 WITHSCORES"; echo "ZSCORE z z50"
        echo "DEL list h s z"; echo "DBSIZE"
    } >"$WORK/redis.cmds"
    {
        echo OK; echo hello; echo 11; echo "hello,world"
        for i in $(seq 1 100); do echo $((i * (i + 1) / 2)); done
        for i in $(seq 1 2000); do echo $((5 * i)); done
        echo 10000
        echo 1000; echo 1000; printf 'v1000\nv999\nv998\n'
        for i in $(seq 1000 -1 991); do echo "v$i"; done
        echo v1; echo 989
        echo 500; echo 500; echo 250; echo ""
        echo 1000; echo 1000; echo 1; echo 0
        echo 100; printf 'z1\n1\nz2\n2\nz3\n3\n'; echo 50
        echo 4; echo 3
    } >"$WORK/redis.exp"
}

# run_redis_data MODE OUT: data script + a 1 MiB value round trip; OUT gets every reply.
run_redis_data() {
    local mode="$1" out="$2" runner=sys
    [ "$mode" = pre ] && runner=pre
    {
        $runner 30 "$out.1" "$out.err" redis-cli -h 127.0.0.1 -p "$PORT" <"$WORK/redis.cmds" && cat "$out.1"
        $runner 30 "$out.1" "$out.err" redis-cli -h 127.0.0.1 -p "$PORT" -x SET big <"$WORK/redis.big" && cat "$out.1"
        $runner 30 "$out.1" "$out.err" redis-cli -h 127.0.0.1 -p "$PORT" --raw GET big &&
            { cmp -s "$out.1" "$WORK/redis.bignl" && echo "big value intact" || echo "big value CHANGED"; }
        $runner 30 "$out.1" "$out.err" redis-cli -h 127.0.0.1 -p "$PORT" STRLEN big && cat "$out.1"
    } >"$out"
}

check_redis() {
    local name="redis"
    local p rc
    for p in "redis-server redis-server" "redis-cli redis-tools" "redis-benchmark redis-tools"; do
        set -- $p
        if ! need "$1" "$2"; then skip "$name" "$(why_missing "$1" "$2")"; return; fi
    done
    if ! PORT="$(free_port)"; then fail "$name" "no free port on 127.0.0.1 in 6400..7399"; return; fi
    redis_script
    head -c 786432 /dev/urandom | base64 -w0 >"$WORK/redis.big"      # 1048576 printable bytes
    { cat "$WORK/redis.big"; echo; } >"$WORK/redis.bignl"
    { cat "$WORK/redis.exp"; echo OK; echo "big value intact"; echo 1048576; } >"$WORK/redis.data.exp"

    # Preloaded server: benchmark, then the data script.
    if ! start_redis pre "$WORK/redis-pre.log"; then
        kill -9 "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        rc=$?
        REDIS_PID=""
        fail "$name" "preloaded redis-server did not answer PING (server: $(status "$rc"))" "$WORK/redis-pre.log" "$WORK/redis-pre.log.err"
        return
    fi
    local mapped=no
    grep -qF "$LIB" "/proc/$REDIS_PID/maps" 2>/dev/null && mapped=yes
    pre 90 "$WORK/bench.out" "$WORK/bench.err" redis-benchmark -h 127.0.0.1 -p "$PORT" -n 20000 -c 8 -q -t set,get,lpush,lpop
    local brc=$?
    tr '\r' '\n' <"$WORK/bench.out" | grep "requests per second" >"$WORK/bench.lines"
    # After it: key:__rand_int__ holds the 3-byte payload "VXK"; mylist got 20000 pushes and 20000
    # pops, so it is gone; nothing else exists.
    pre 10 "$WORK/after.out" "$WORK/after.err" redis-cli -h 127.0.0.1 -p "$PORT" GET key:__rand_int__
    local after_get; after_get="$(cat "$WORK/after.out")"
    pre 10 "$WORK/after.out" "$WORK/after.err" redis-cli -h 127.0.0.1 -p "$PORT" DBSIZE
    local after_dbsize; after_dbsize="$(cat "$WORK/after.out")"
    pre 10 "$WORK/after.out" "$WORK/after.err" redis-cli -h 127.0.0.1 -p "$PORT" FLUSHALL
    run_redis_data pre "$WORK/redis.pre"
    stop_redis
    rc=$?

    # Unpreloaded server: the data script only, to compare.
    local sys_ok=yes
    if start_redis sys "$WORK/redis-sys.log"; then
        pre 10 "$WORK/after.out" "$WORK/after.err" redis-cli -h 127.0.0.1 -p "$PORT" FLUSHALL
        run_redis_data sys "$WORK/redis.sys"
        stop_redis
    else
        sys_ok=no
        [ -n "$REDIS_PID" ] && { kill -9 "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=""; }
    fi

    if [ "$brc" -ne 0 ] || [ "$(wc -l <"$WORK/bench.lines")" -ne 4 ]; then
        fail "$name" "redis-benchmark: $(status "$brc"), $(wc -l <"$WORK/bench.lines") of 4 result lines" "$WORK/bench.err" "$WORK/redis-pre.log"
    elif [ "$after_get" != VXK ] || [ "$after_dbsize" != 1 ]; then
        fail "$name" "after the benchmark: GET key:__rand_int__ = '$after_get' (want VXK), DBSIZE = '$after_dbsize' (want 1)" "$WORK/redis-pre.log"
    elif [ "$mapped" != yes ]; then
        fail "$name" "the redis-server process did not map $LIB"
    elif [ "$rc" -ne 0 ]; then
        fail "$name" "preloaded redis-server: $(status "$rc") at SHUTDOWN NOSAVE" "$WORK/redis-pre.log" "$WORK/redis-pre.log.err"
    elif [ "$sys_ok" != yes ]; then
        fail "$name" "redis-server without preload did not start" "$WORK/redis-sys.log"
    else
        verify "$name" "$WORK/redis.pre" "$WORK/redis.sys" "$WORK/redis.data.exp" "" \
            "server mapped $LIBNAME; benchmark $(paste -sd' ' "$WORK/bench.lines" | sed -E 's/ requests per second[^A-Z]*/ rps /g; s/ +$//'); $(wc -l <"$WORK/redis.data.exp") replies = expected = unpreloaded; clean shutdown"
    fi
}

# 5-8. The C helpers ---------------------------------------------------------------------------
CFLAGS=(-O2 -g -pthread -Wall -Wextra -Werror)
# build NAME SRC [EXTRA...]: compile into BUILD; on failure the check fails with the compiler log.
build() {
    local name="$1" src="$2"
    shift 2
    if ! command -v gcc >/dev/null 2>&1; then return 2; fi
    gcc "${CFLAGS[@]}" "$@" "$HERE/$src" -o "$BUILD/$name" -ldl >"$WORK/$name.cc.log" 2>&1
}

# c_check NAME TIMEOUT EXPECTED_FILE BIN ARGS...: the program's first line names the allocator
# ("allocator: libc.so.6" without, "allocator: LIBNAME (fa_malloc visible)" with the preload); the
# rest must equal EXPECTED and the run without preload.
c_check() {
    local name="$1" t="$2" exp="$3"
    shift 3
    local rc
    sys "$t" "$WORK/$name.sys" "$WORK/$name.sys.err" "$@"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "run without preload: $(status "$rc")" "$WORK/$name.sys" "$WORK/$name.sys.err"; return; fi
    pre "$t" "$WORK/$name.pre" "$WORK/$name.pre.err" "$@"
    rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "preloaded: $(status "$rc")" "$WORK/$name.pre" "$WORK/$name.pre.err"; return; fi
    if preload_refused "$WORK/$name.pre.err"; then fail "$name" "the loader refused the preload" "$WORK/$name.pre.err"; return; fi
    local want_alloc="allocator: $LIBNAME (fa_malloc visible)" got_alloc
    got_alloc="$(head -n 1 "$WORK/$name.pre")"
    if [ "$got_alloc" != "$want_alloc" ]; then fail "$name" "malloc resolved elsewhere: '$got_alloc'"; return; fi
    tail -n +2 "$WORK/$name.pre" >"$WORK/$name.pre.body"
    tail -n +2 "$WORK/$name.sys" >"$WORK/$name.sys.body"
    # A program may say more on stderr as "NAME: ..." (e.g. the peak RSS): added to the detail.
    local info; info="$(grep "^$name: " "$WORK/$name.pre.err" | tail -n 1 | sed "s/^$name: //")"
    verify "$name" "$WORK/$name.pre.body" "$WORK/$name.sys.body" "$exp" "" "$DETAIL${info:+; $info}"
}

check_c() {
    local name="$1" src="$2"
    if ! need gcc gcc; then skip "$name" "$(why_missing gcc gcc)"; return 1; fi
    if ! build "$name" "$src"; then fail "$name" "gcc failed on $src" "$WORK/$name.cc.log"; return 1; fi
    return 0
}

check_stress() {
    local name="stress_sys"
    check_c "$name" stress_sys.c || return
    # 12 edge cases; 4 threads x 250000 operations. Every decision comes from per-thread seeds and
    # never from timing or the allocator, so every count is a constant of the program (requested
    # bytes, not usable sizes, are summed); allocs = frees means nothing leaked or was lost.
    cat >"$WORK/stress.exp" <<'EOF2'
edge: 12 checks, 0 errors
stress_sys: threads=4 ops=1000000 allocs=376481 frees=376481 reallocs=218037 handoffs=94076 leftovers=1293 usable_checks=109775 bytes=2530489731 errors=0
stress_sys: PASS
EOF2
    DETAIL="4 threads x 250000 ops, 376481 allocs = frees, 94076 cross-thread handoffs, 0 errors = unpreloaded" \
        c_check "$name" 90 "$WORK/stress.exp" "$BUILD/$name"
}

check_fork() {
    local name="fork_threads"
    check_c "$name" fork_threads.c || return
    printf 'fork_threads: forks=50 ok=50 failed=0 worker_errors=0\nfork_threads: PASS\n' >"$WORK/fork.exp"
    DETAIL="50 forks while 4 threads allocate; every child checked its blocks and exited 0" \
        c_check "$name" 60 "$WORK/fork.exp" "$BUILD/$name"
}

check_dlopen() {
    local name="dlopen"
    if ! need gcc gcc; then skip "$name" "$(why_missing gcc gcc)"; return; fi
    if ! gcc "${CFLAGS[@]}" -fPIC -shared "$HERE/dlopen_lib.c" -o "$BUILD/dlopen_lib.so" >"$WORK/dlopen_lib.cc.log" 2>&1; then
        fail "$name" "gcc failed on dlopen_lib.c" "$WORK/dlopen_lib.cc.log"; return
    fi
    if ! build dlopen_main dlopen_main.c; then fail "$name" "gcc failed on dlopen_main.c" "$WORK/dlopen_main.cc.log"; return; fi
    # 20 rounds; 250 odd-numbered library strings kept per round past dlclose;
    # "main" + "+0".."+9" + "+10".."+19" = 4 + 20 + 30 chars.
    printf 'dlopen_main: rounds=20 unloaded=yes kept_after_dlclose=5000 appended=54 errors=0\ndlopen_main: PASS\n' >"$WORK/dlopen.exp"
    DETAIL="20 dlopen/dlclose rounds, blocks freed across the boundary both ways, 5000 library blocks valid after dlclose" \
        c_check "$name" 30 "$WORK/dlopen.exp" "$BUILD/dlopen_main" "$BUILD/dlopen_lib.so"
}

check_free_thread() {
    local name="free_thread"
    check_c "$name" free_thread.c || return
    # traffic_mib: the sizes of free_thread.c's size_of() over 400000 blocks (1/8 for the huge ones).
    printf 'free_thread: exited_owner_errors=0 concurrent_errors=0 live_owner_errors=0 traffic_mib=1360 rss_bounded=yes\nfree_thread: PASS\n' >"$WORK/free.exp"
    DETAIL="a never-allocating thread freed blocks of an exited, a live and a concurrent owner" \
        c_check "$name" 60 "$WORK/free.exp" "$BUILD/$name"
}

check_exit() {
    local name="exit_live"
    check_c "$name" exit_live.c || return
    cat >"$WORK/exit.exp" <<'EOF'
main: constructor ok, 1000 blocks, 0 bad, text "allocated before main"
main: returning with live blocks
atexit: freed 500 constructor blocks, 0 bad
atexit: churn ok
destructor: ok
EOF
    DETAIL="constructor allocations valid in main, atexit/destructor allocate and free, exit 0 with live blocks and a blocked thread" \
        c_check "$name" 30 "$WORK/exit.exp" "$BUILD/$name"
}

echo "preload checks: LD_PRELOAD=$LIB"
check_active
check_python
check_sqlite
check_lua
check_redis
check_stress
check_fork
check_dlopen
check_free_thread
check_exit
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
