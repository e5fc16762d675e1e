#!/usr/bin/env bash
# Installs what the test suites need when it is missing and we may (root with apt-get); otherwise
# says which suites will be skipped and why. Never fails the build by itself.
set -u
missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
# The LD_PRELOAD suite runs real programs; tests/preload/run.sh installs or skips them one by one.
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/deps.sh: installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
        || echo "tests/deps.sh: apt-get install ${missing[*]} failed"
fi
for tool in clang g++ valgrind; do
    command -v "$tool" >/dev/null 2>&1 || echo "tests/deps.sh: $tool missing: its suite will be SKIPPED (run: apt-get install $tool)"
done
exit 0
