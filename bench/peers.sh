# bench/peers.sh — sourced by bench/run.sh and bench/instr.sh: finds the peer allocators and checks
# that preloading one really takes over malloc in SYS_BIN. The caller sets SYS_BIN and the arrays
# names, preload, bins and skipped; add_peer appends to them.
multiarch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
peer_me=$(basename "$0")

# find_lib OVERRIDE BASENAME SONAME: prints the first existing candidate.
find_lib() {
    local c
    for c in "$1" "/usr/lib/$multiarch/$2" "/usr/lib/$multiarch/$3" "/usr/lib/$2" "/usr/local/lib/$2" \
             "$(ldconfig -p 2>/dev/null | awk -v s="$3" '$1 == s && !f { print $NF; f = 1 }')"; do
        [ -n "$c" ] && [ -f "$c" ] && { realpath "$c"; return 0; }
    done
    return 1
}

# add_peer NAME OVERRIDE BASENAME SONAME APT_PACKAGES
add_peer() {
    local name=$1 lib
    if ! lib=$(find_lib "$2" "$3" "$4"); then
        skipped+=("$name: $3 not found (looked in /usr/lib/$multiarch, /usr/lib, /usr/local/lib, ldconfig); install with: apt-get install -y $5")
        echo "$peer_me: SKIPPING $name: $3 not found. Install with: sudo apt-get install -y $5" >&2
        return 0
    fi
    # The preload must really take over malloc in SYS_BIN (not only load).
    if ! LD_DEBUG=bindings LD_PRELOAD="$lib" "$SYS_BIN" pingpong 16 1 2>&1 >/dev/null |
            grep -F "binding file $SYS_BIN" | grep -F "symbol \`malloc'" | grep -F "to $lib" >/dev/null; then
        skipped+=("$name: LD_PRELOAD=$lib does not take over malloc in $SYS_BIN")
        echo "$peer_me: SKIPPING $name: LD_PRELOAD=$lib does not interpose malloc in $SYS_BIN" >&2
        return 0
    fi
    names+=("$name")
    preload+=("$lib")
    bins+=("$SYS_BIN")
    echo "$peer_me: $name = LD_PRELOAD $lib" >&2
}
