#!/usr/bin/env python3
"""bench/recheck.py -- a second look at a workload where fa-preload trailed the fastest peer.

usage: recheck.py WORKLOAD.json WORKLOAD PAIRS NAME=COMMAND...   (prints one TSV line, or nothing)
       (COMMAND: the words hyperfine ran for allocator NAME, joined by spaces)

hyperfine runs each command's runs back to back, so a phase of a shared machine (another guest
taking the host's cores for a few seconds) lands on one allocator's runs and not the next one's: on
the 2-CPU VMs this suite runs on, the same library has measured 1.6x apart in two columns of one
run. When fa-preload's median in WORKLOAD.json is more than 1.10x the fastest peer's (the issue's
per-workload bound; fa-compiled and the other fa-* builds are not peers), this runs the two
commands again PAIRS times, alternating which goes first, each run right after the other, and
prints: workload, peer, pairs, fa-preload's and the peer's median seconds, and the median, first
and third quartile of the per-pair ratios fa-preload / peer. A pair's two runs are seconds apart,
so a slow phase mostly hits both; the median of pair ratios is the figure that phase noise moves
least. Nothing is printed when fa-preload is within the bound or a command is missing; a run that
fails or exceeds 60 s ends the recheck with no line (the checked runs already judged correctness).
"""
import json, statistics, subprocess, sys, time

BOUND = 1.10


def main():
    path, workload, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    commands = dict(arg.split("=", 1) for arg in sys.argv[4:])
    try:
        medians = {r["command"]: r["median"] for r in json.load(open(path))["results"]}
    except (OSError, ValueError, KeyError):
        return
    peers = [name for name in medians if not name.startswith("fa-") and name in commands]
    if "fa-preload" not in medians or "fa-preload" not in commands or not peers:
        return
    best = min(peers, key=lambda name: medians[name])
    if medians["fa-preload"] <= BOUND * medians[best]:
        return
    # the suite's paths and arguments hold no spaces, so the words split back as they were joined
    cmds = {"fa": commands["fa-preload"].split(), "peer": commands[best].split()}
    times = {"fa": [], "peer": []}
    for i in range(pairs):
        for who in (("fa", "peer") if i % 2 == 0 else ("peer", "fa")):
            t0 = time.perf_counter()
            try:
                rc = subprocess.run(cmds[who], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    timeout=60).returncode
            except subprocess.TimeoutExpired:
                return
            if rc != 0:
                return
            times[who].append(time.perf_counter() - t0)
    ratios = sorted(f / p for f, p in zip(times["fa"], times["peer"]))
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
    print("\t".join([workload, best, str(pairs), "%.6f" % statistics.median(times["fa"]),
                     "%.6f" % statistics.median(times["peer"]), "%.4f" % statistics.median(ratios),
                     "%.4f" % q[0], "%.4f" % q[2]]))


main()
