#!/usr/bin/env python3
"""bench/recheck.py -- a second look at a workload where fa-preload trailed the fastest peer.

usage: recheck.py WORKLOAD.json WORKLOAD PAIRS BOUND TIMEOUT NAME=COMMAND...
       (COMMAND: the words hyperfine ran for allocator NAME, joined by spaces)
Prints one TSV line, or nothing when there is no gap; exits 1 with the reason on stderr when the
recheck could not run.

hyperfine runs each command's runs back to back, so a phase of a shared machine (another guest
taking the host's cores for a few seconds) lands on one allocator's runs and not the next one's: on
the 2-CPU VMs this suite runs on, the same library has measured 1.6x apart in two columns of one
run. When fa-preload's median in WORKLOAD.json is more than BOUND times the fastest peer's (the
issue's per-workload bound, 1.10; fa-compiled and the other fa-* builds are not peers), this runs
the two commands again PAIRS times, alternating which goes first, each run right after the other,
and prints: workload, peer, pairs, fa-preload's and the peer's median seconds, and the median, first
and third quartile of the per-pair ratios fa-preload / peer. A pair's two runs are seconds apart,
so a slow phase mostly hits both; the median of pair ratios is the figure that phase noise moves
least. Times are taken around process start and exit, as hyperfine's are, so on runs of a few ms
the ratios lean towards 1. A run that fails or takes longer than TIMEOUT seconds ends the recheck
(the suite's checked runs already judged correctness). The wait for a run blocks in waitpid and a
timer kills a run past TIMEOUT: subprocess's own timeout polls with sleeps that double up to 50 ms,
which rounded every run to the end of the sleep it fell in (a 17.6 ms run and a 29.1 ms one both
read 32 ms, and short workloads showed pairs of 1.00x whatever the gap).
"""
import json, shlex, statistics, subprocess, sys, threading, time


def timed_run(argv, timeout):
    """Runs argv with its output discarded: (exit status, seconds, whether the timer killed it)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    rc = proc.wait()
    seconds = time.perf_counter() - t0
    timer.cancel()
    return rc, seconds, seconds >= timeout and rc < 0


def fail(why):
    print("recheck.py: " + why, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) < 6:
        fail("usage: recheck.py WORKLOAD.json WORKLOAD PAIRS BOUND TIMEOUT NAME=COMMAND...")
    path, workload, pairs, bound, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    if pairs < 1:
        fail("PAIRS must be at least 1")
    commands = dict(arg.split("=", 1) for arg in sys.argv[6:])
    try:
        with open(path) as f:
            medians = {r["command"]: r["median"] for r in json.load(f)["results"]}
    except (OSError, ValueError, KeyError) as e:
        fail("cannot read %s: %s" % (path, e))
    peers = [name for name in medians if not name.startswith("fa-") and name in commands]
    if "fa-preload" not in medians or "fa-preload" not in commands or not peers:
        return
    fastest_peer = min(peers, key=lambda name: medians[name])
    if medians["fa-preload"] <= bound * medians[fastest_peer]:
        return
    pair_commands = {"fa": shlex.split(commands["fa-preload"]), "peer": shlex.split(commands[fastest_peer])}
    times = {"fa": [], "peer": []}
    for i in range(pairs):
        for who in (("fa", "peer") if i % 2 == 0 else ("peer", "fa")):
            try:
                rc, seconds, killed = timed_run(pair_commands[who], timeout)
            except OSError as e:
                fail("%s: cannot run %s: %s" % (workload, pair_commands[who][0], e))
            if killed:
                fail("%s: %s took longer than %g s" % (workload, who, timeout))
            if rc != 0:
                fail("%s: %s exited %d" % (workload, " ".join(pair_commands[who]), rc))
            times[who].append(seconds)
    ratios = sorted(f / p for f, p in zip(times["fa"], times["peer"]))
    quartiles = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else [ratios[0]] * 3
    print("\t".join([workload, fastest_peer, str(pairs), "%.6f" % statistics.median(times["fa"]),
                     "%.6f" % statistics.median(times["peer"]), "%.4f" % statistics.median(ratios),
                     "%.4f" % quartiles[0], "%.4f" % quartiles[2]]))


main()
