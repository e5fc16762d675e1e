# shellcheck shell=bash
# bench/peers.sh -- sourced by every benchmark script (suite.sh, suite_instr.sh, run.sh, instr.sh,
# frame.sh): the list of allocators compared, found the same way everywhere.
#
#   peers_setup INSTALL FA_SO_DEFAULT PROBE_BIN [PROBE_ARGS...]
#
# fills the parallel arrays A_NAME, A_LIB, A_KIND (and A_DESC, a line describing each), in this order:
#   fa-compiled  fastalloc compiled into the program through the header (the _fa build)   kind fa
#   fa-preload   libfastalloc.so (make lib) LD_PRELOADed into the system build (_sys)      kind sys
#   mimalloc3    mimalloc 3 (optional: MIMALLOC3_SO)                                       kind sys
#   rpmalloc2    rpmalloc 2 (optional: RPMALLOC2_SO)                                       kind sys
#   snmalloc     snmalloc   (optional: SNMALLOC_SO; does not run under valgrind)           kind sys
#   mimalloc2    Debian's mimalloc 2.0 (libmimalloc2.0; MIMALLOC_SO)                       kind sys
#   jemalloc     Debian's jemalloc (libjemalloc2; JEMALLOC_SO)                             kind sys
#   tcmalloc     Debian's tcmalloc (libtcmalloc-minimal4; TCMALLOC_SO)                     kind sys
#   glibc        the system build as it is                                                 kind sys
# and A_SKIPPED with one message per allocator left out. Every preloaded library must really take
# over malloc in PROBE_BIN (absolute path; it runs once, under LD_DEBUG=bindings, with PROBE_ARGS).
#
# Where a library comes from: the variable named above when it is set (set but empty: leave that
# allocator out); else for fa-preload FA_SO_DEFAULT (FASTALLOC_SO overrides it); for the Debian
# peers the usual library directories and ldconfig, installing the package with apt-get first when
# INSTALL=1 and running as root; for the optional newer peers ../shared/peers/NAME.so next to the
# repository (or next to its main worktree), where a shared machine keeps prebuilt ones. A missing
# optional peer is one line, "SKIPPING snmalloc: set SNMALLOC_SO=/path/libsnmalloc.so", never an
# error: `make bench` works on a fresh Debian machine without them. (SKIPPING, not SKIPPED: .ci/run
# fails a run whose log says SKIPPED, which is for test suites, and peers are optional.)
# ALLOCATORS="fa-preload mimalloc3 ..." keeps only the allocators named (any order is ignored).

peer_me=$(basename "$0")
peer_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
peer_multiarch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)

peer_say() { echo "$peer_me: $*" >&2; }

# peer_apt PKG: installs PKG with apt-get when allowed (INSTALL=1) and root; true on success.
peer_apt_updated=0
peer_apt() {
    [ "$peer_install" = 1 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    peer_say "installing $1 with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if [ $peer_apt_updated = 0 ]; then apt-get update -qq >&2 || true; peer_apt_updated=1; fi
    apt-get install -y -qq "$1" >&2
}

# peer_find_system SONAME...: first of the sonames in the library directories or ldconfig.
peer_find_system() {
    local n c
    for n in "$@"; do
        for c in "/usr/lib/$peer_multiarch/$n" "/usr/lib/$n" "/usr/local/lib/$n" "/usr/lib64/$n"; do
            [ -f "$c" ] && { realpath "$c"; return 0; }
        done
        c=$(ldconfig -p 2>/dev/null | awk -v s="$n" '$1 == s && !f { print $NF; f = 1 }')
        [ -n "$c" ] && [ -f "$c" ] && { realpath "$c"; return 0; }
    done
    return 1
}

# peer_find_shared FILE: ../shared/peers/FILE next to the repository or its main worktree.
peer_find_shared() {
    local repo main c
    repo=$(cd "$peer_here/.." && pwd)
    main=$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) && main=$(dirname "$main")
    for c in "$repo/../shared/peers/$1" ${main:+"$main/../shared/peers/$1"}; do
        [ -f "$c" ] && { realpath "$c"; return 0; }
    done
    return 1
}

# peer_binds LIB: true when LIB, preloaded, is what PROBE_BIN's malloc binds to.
peer_binds() {
    local out
    out=$(LD_DEBUG=bindings LD_PRELOAD="$1" "${peer_probe[@]}" 2>&1 >/dev/null || true)
    awk -v f="binding file ${peer_probe[0]} " -v t="to $1 " -v s="symbol \`malloc'" \
        'index($0, f) && index($0, t) && index($0, s) { ok = 1 } END { exit !ok }' <<<"$out"
}

# peer_desc LIB: "path (Debian package version)" when dpkg knows the file.
peer_desc() {
    local pkg ver
    pkg=$(dpkg -S "$1" 2>/dev/null | head -n 1 | cut -d: -f1) || pkg=
    if [ -n "$pkg" ] && ver=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null); then
        echo "$1 ($pkg $ver)"
    else
        echo "$1"
    fi
}

peer_wanted() {   # peer_wanted NAME: not filtered out by ALLOCATORS
    [ -z "${ALLOCATORS:-}" ] && return 0
    [[ " $ALLOCATORS " == *" $1 "* ]]
}

# peer_add NAME VAR KIND DEFAULT...: KIND is fa-so (DEFAULT = a path), optional (DEFAULT = the file
# name in ../shared/peers) or debian (DEFAULT = apt package, then sonames).
peer_add() {
    local name=$1 var=$2 kind=$3 lib=""
    shift 3
    peer_wanted "$name" || return 0
    if [ -n "${!var+set}" ]; then
        if [ -z "${!var}" ]; then
            A_SKIPPED+=("$name ($var is empty)"); peer_say "SKIPPING $name: $var is set but empty"; return 0
        fi
        if [ ! -f "${!var}" ]; then
            A_SKIPPED+=("$name ($var=${!var}: no such file)"); peer_say "SKIPPING $name: $var=${!var}: no such file"; return 0
        fi
        lib=$(realpath "${!var}")
    else
        case $kind in
        fa-so)
            if [ -f "$1" ]; then lib=$(realpath "$1")
            else
                A_SKIPPED+=("$name (no $1: make lib)")
                peer_say "SKIPPING $name: no $1 (run: make lib, or set $var=/path/libfastalloc.so)"; return 0
            fi ;;
        optional)
            lib=$(peer_find_shared "$1") || {
                A_SKIPPED+=("$name (set $var=/path/$1)")
                peer_say "SKIPPING $name: set $var=/path/$1"; return 0; } ;;
        debian)
            local pkg=$1; shift
            lib=$(peer_find_system "$@") || { peer_apt "$pkg" && lib=$(peer_find_system "$@"); } || {
                A_SKIPPED+=("$name (not installed: sudo apt-get install -y $pkg)")
                peer_say "SKIPPING $name: not installed (sudo apt-get install -y $pkg, or set $var=/path/$1)"; return 0; } ;;
        esac
    fi
    if ! peer_binds "$lib"; then
        A_SKIPPED+=("$name (LD_PRELOAD=$lib does not take over malloc)")
        peer_say "SKIPPING $name: LD_PRELOAD=$lib does not take over malloc in ${peer_probe[0]}"; return 0
    fi
    if [ "$kind" = fa-so ] && [ "$peer_here/../fastalloc.h" -nt "$lib" ]; then
        peer_say "WARNING: fastalloc.h is newer than $lib: run make lib to measure the current code"
    fi
    A_NAME+=("$name"); A_LIB+=("$lib"); A_KIND+=(sys); A_DESC+=("$name = LD_PRELOAD $(peer_desc "$lib")")
}

peers_setup() {
    peer_install=$1
    local fa_so=$2
    shift 2
    peer_probe=("$@")
    A_NAME=(); A_LIB=(); A_KIND=(); A_DESC=(); A_SKIPPED=()
    if peer_wanted fa-compiled; then
        A_NAME+=(fa-compiled); A_LIB+=(""); A_KIND+=(fa); A_DESC+=("fa-compiled = fastalloc.h compiled into the program (_fa build)")
    fi
    peer_add fa-preload FASTALLOC_SO fa-so "$fa_so"
    peer_add mimalloc3 MIMALLOC3_SO optional libmimalloc3.so
    peer_add rpmalloc2 RPMALLOC2_SO optional librpmalloc2.so
    peer_add snmalloc SNMALLOC_SO optional libsnmalloc.so
    peer_add mimalloc2 MIMALLOC_SO debian libmimalloc2.0 libmimalloc.so.2 libmimalloc.so
    peer_add jemalloc JEMALLOC_SO debian libjemalloc2 libjemalloc.so.2 libjemalloc.so
    peer_add tcmalloc TCMALLOC_SO debian libtcmalloc-minimal4 libtcmalloc_minimal.so.4 libtcmalloc_minimal.so
    if peer_wanted glibc; then
        A_NAME+=(glibc); A_LIB+=(""); A_KIND+=(sys); A_DESC+=("glibc = the system build as it is")
    fi
}

# peers_drop NAME REASON: removes NAME from the arrays (e.g. snmalloc under valgrind).
peers_drop() {
    local i
    for i in "${!A_NAME[@]}"; do
        if [ "${A_NAME[$i]}" = "$1" ]; then
            unset 'A_NAME[i]' 'A_LIB[i]' 'A_KIND[i]' 'A_DESC[i]'
            A_NAME=("${A_NAME[@]}"); A_LIB=("${A_LIB[@]}"); A_KIND=("${A_KIND[@]}"); A_DESC=("${A_DESC[@]}")
            A_SKIPPED+=("$1 ($2)")
            peer_say "leaving out $1: $2"
            return 0
        fi
    done
}
