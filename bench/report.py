#!/usr/bin/env python3
"""bench/report.py -- turns bench/suite.sh's suite.tsv, ablation.tsv and hyperfine JSON files into
latest.md and ratios.dat (the data of the chart). Called by suite.sh with its settings in the
environment (OUT, NAMES, MACHINE, LOAD_NOTE, HF, TIMEOUT, SLOW, HDR, PEERS, SKIPPED, ELAPSED).

Two views of the same runs:
  * Time: every allocator against fastalloc preloaded (fa-preload: libfastalloc.so LD_PRELOADed
    into the same system build as the peers), ratio allocator / fa-preload, > 1: fastalloc faster.
  * Like for like: every allocator against mimalloc 3 when it ran (else mimalloc 2, else glibc),
    time / reference time, < 1: faster than the reference; geometric means per group and overall,
    and the geometric mean of peak RSS / the reference's."""
import csv, json, math, os, statistics

E = os.environ
out = E["OUT"]
names = E["NAMES"].split()
timeout = float(E.get("TIMEOUT", "10"))
SETS = [("churn", "Alloc/free churn (single thread; prodcons-64: 2 threads)"),
        ("zero", "Zeroed memory and realloc"),
        ("realloc", "Realloc growth, one byte at a time"),
        ("threads", "Multi-threaded (2 and 4 threads)"),
        ("stress", "Multi-threaded stress (mstress: 4 and 8 threads, thread churn; rptest: 2 and 4 threads)"),
        ("frag", "Fragmentation"),
        ("app", "Application-shaped")]
SHORT = {"churn": "churn", "zero": "zero/realloc", "realloc": "realloc growth", "threads": "threads",
         "stress": "stress", "frag": "frag", "app": "app"}


def pick(*cands):
    for c in cands:
        if c in names:
            return c
    return names[0]


BASE = pick("fa-preload", "fa-compiled")
REF = pick("mimalloc3", "mimalloc2", "glibc")
others = [a for a in names if a != BASE]

rows = list(csv.DictReader(open(os.path.join(out, "suite.tsv")), delimiter="\t"))
order, wset, info = [], {}, {}
for r in rows:
    w = r["workload"]
    if w not in wset:
        order.append(w)
        wset[w] = r["set"]
    info[(w, r["allocator"])] = r


def hf_results(path):
    try:
        with open(path) as f:
            return {res["command"]: res for res in json.load(f)["results"]}
    except (OSError, ValueError, KeyError):
        return {}


def hf_medians(path):
    return {k: v["median"] for k, v in hf_results(path).items()}


# time[(w, a)] = (seconds, kind): kind "" (hyperfine median), "single" (one checked run),
# "timeout" (seconds is the lower bound); absent when the run failed. cv[(w, a)]: the hyperfine
# runs' standard deviation / mean.
time, cv = {}, {}
for w in order:
    res = hf_results(os.path.join(out, w + ".json"))
    for a in names:
        r = info.get((w, a))
        if r is None:
            continue
        if r["status"] == "ok" and a in res:
            time[(w, a)] = (res[a]["median"], "")
            ts = res[a].get("times") or []
            if len(ts) >= 2 and statistics.mean(ts) > 0:
                cv[(w, a)] = statistics.stdev(ts) / statistics.mean(ts)
        elif r["status"] == "single" or (r["status"] == "ok" and not res):
            time[(w, a)] = (float(r["seconds"]), "single")
        elif r["status"] == "timeout":
            time[(w, a)] = (timeout, "timeout")


def fmt_t(s):
    return "%.0f ms" % (s * 1e3) if s >= 0.1 else "%.1f ms" % (s * 1e3) if s >= 0.001 else "%.0f µs" % (s * 1e6)


def ratio(w, a, base):
    """(t_a / t_base, bound) with bound "" (exact), ">" (a lower bound) or "<" (an upper bound);
    None when either is missing or both timed out."""
    t, b = time.get((w, a)), time.get((w, base))
    if not t or not b:
        return None
    ta, tb = t[1] == "timeout", b[1] == "timeout"
    if ta and tb:
        return None
    return t[0] / b[0], ">" if ta else "<" if tb else ""


def cell(w, a, base):
    t = time.get((w, a))
    if t is None:
        st = info.get((w, a), {}).get("status", "")
        return "FAILED" if st == "fail" else "—"
    s, kind = t
    txt = "> %g s" % timeout if kind == "timeout" else fmt_t(s) + ("¹" if kind == "single" else "")
    if a != base:
        r = ratio(w, a, base)
        if r:
            txt += " (%s%.2f×)" % (r[1], r[0])
    return txt


def geomean(ws, a, base, bold=True):
    rs = [r for r in (ratio(w, a, base) for w in ws) if r]
    if not rs:
        return "—"
    g = math.exp(sum(math.log(r[0]) for r in rs) / len(rs))
    lo, hi = any(r[1] == ">" for r in rs), any(r[1] == "<" for r in rs)
    mark = "~" if lo and hi else "≥" if lo else "≤" if hi else ""
    return ("**%s%.2f×**" if bold else "%s%.2f×") % (mark, g)


def rss(w, a):
    r = info.get((w, a))
    if not r or r["peak_rss_kib"] in ("", "n/a") or r["status"] == "fail":
        return None
    return int(r["peak_rss_kib"])


def fmt_mib(k):
    return "—" if k is None else "%.1f MiB" % (k / 1024) if k < 1024 * 100 else "%.0f MiB" % (k / 1024)


def rss_geomean(ws, a, base):
    rs = [rss(w, a) / rss(w, base) for w in ws if rss(w, a) and rss(w, base)]
    return "%.2f×" % math.exp(sum(map(math.log, rs)) / len(rs)) if rs else "—"


groups = [(s, t, [w for w in order if wset[w] == s]) for s, t in SETS]
groups = [g for g in groups if g[2]]

L = []
L.append("# fastalloc benchmark suite\n")
L.append("Machine: %s · load: %s · fastalloc.h %s · %s · timeout %s s · %s s suite time\n"
         % (E["MACHINE"], E["LOAD_NOTE"], E.get("HDR", "?"), E["HF"], E["TIMEOUT"], E.get("ELAPSED", "?")))
L.append("Allocators (bench/peers.sh). Every one except fa-compiled runs the same system build "
         "`w_*_sys`, into which it is LD_PRELOADed; fa-compiled is fastalloc compiled into the "
         "program through the header (`w_*_fa`: what the header gives a program that includes it).\n")
for d in E.get("PEERS", "").splitlines():
    if d.strip():
        L.append("- " + d.strip())
for d in E.get("SKIPPED", "").splitlines():
    if d.strip():
        L.append("- skipped: " + d.strip())
L.append("")
L.append("Cells: median wall time of the hyperfine runs. `> %s s`: stopped at the timeout (a ratio "
         "with it is a bound, marked > or <, and a geometric mean that includes one ≥, ≤ or ~). ¹: slower "
         "than %s s in its checked run, timed by that single run (in the like-for-like table only the "
         "reference's time carries the mark). Workloads are described at the top "
         "of each `bench/w_*.c`; N is the program's default. Regenerate with `make bench`.\n"
         % (E["TIMEOUT"], E["SLOW"]))

# ---- like for like ----
L.append("## Like for like: time relative to %s\n" % REF)
L.append("Time / %s's time in the same hyperfine run (**< 1: faster than %s**). fa-preload is the "
         "like-for-like fastalloc (preloaded, as every peer); fa-compiled is the header compiled in. "
         "Geometric means per group and over all workloads; last row: geometric mean of peak RSS / "
         "%s's peak RSS.\n" % (REF, REF, REF))
L.append("| workload | " + " | ".join(names) + " |")
L.append("|---|" + "---:|" * len(names))
for s, title, ws in groups:
    L.append("| ***%s*** |%s" % (SHORT.get(s, s), " |" * len(names)))
    for w in ws:
        cells = []
        for a in names:
            if a == REF:
                t = time.get((w, a))
                cells.append("1 (%s)" % (("> %g s" % timeout) if t[1] == "timeout" else
                                         fmt_t(t[0]) + ("¹" if t[1] == "single" else ""))
                             if t else "FAILED")
            else:
                r = ratio(w, a, REF)
                cells.append("%s%.2f" % (r[1], r[0]) if r else
                             ("FAILED" if info.get((w, a), {}).get("status") == "fail" else "—"))
        L.append("| %s | %s |" % (w, " | ".join(cells)))
    if len(ws) > 1:
        L.append("| *geomean, %s* | %s |" % (SHORT.get(s, s), " | ".join(
            geomean(ws, a, REF, bold=False) if a != REF else "1" for a in names)))
L.append("| **geometric mean, all %d workloads** | %s |" % (len(order), " | ".join(
    geomean(order, a, REF) if a != REF else "**1**" for a in names)))
L.append("| **peak RSS, geometric mean** | %s |" % " | ".join(
    rss_geomean(order, a, REF) if a != REF else "1" for a in names))
L.append("")

# ---- the per-workload target: fa-preload within TRAIL_BOUND (1.10x) of the fastest peer ----
TRAIL_BOUND = float(E.get("TRAIL_BOUND", "1.10"))
peers = [a for a in names if not a.startswith("fa-")]
if BASE == "fa-preload" and peers:
    behind = []
    for w in order:
        worst = max(((r[0], a) for a in peers for r in [ratio(w, BASE, a)] if r and r[1] == ""), default=None)
        if worst and worst[0] > TRAIL_BOUND:
            behind.append((w, worst))
    # bench/recheck.py's interleaved second look at each of them (suite.sh RECHECK)
    rechecked = {}
    try:
        for r in csv.DictReader(open(os.path.join(out, "recheck.tsv")), delimiter="\t"):
            rechecked[r["workload"]] = r
    except OSError:
        pass
    L.append("## Where fa-preload trails the fastest peer\n")
    L.append("Workloads where fa-preload took more than %.2f× the time of the fastest other allocator "
             "in the same hyperfine run (bounded ratios left out): %d of %d.\n" % (TRAIL_BOUND, len(behind), len(order)))
    shown = [w for w, _ in behind if w in rechecked]
    if behind and shown:
        held = [w for w in shown if float(rechecked[w]["ratio_median"]) > TRAIL_BOUND]
        pairs = max(int(rechecked[w]["pairs"]) for w in shown)
        missed = [w for w, _ in behind if w not in rechecked]
        L.append("hyperfine runs one allocator's runs back to back, so a slow phase of the machine can "
                 "land on one column alone; %d of these were run again right after their hyperfine run, "
                 "fa-preload and that peer alternating, %d runs each (bench/recheck.py)%s. *Pairs*: the "
                 "median of the per-pair ratios fa-preload / peer, quartiles in brackets. The gap held "
                 "(pair median above %.2f×) in %d of %d.\n"
                 % (len(shown), pairs, "; not rechecked: " + ", ".join(missed) + " (timed by a single run, "
                    "or the recheck failed)" if missed else "", TRAIL_BOUND, len(held), len(shown)))
    if behind:
        L.append("| workload | fa-preload | fastest peer | its time | fa-preload / it |%s" % (" pairs |" if shown else ""))
        L.append("|---|---:|---|---:|---:|%s" % ("---:|" if shown else ""))
        for w, (r, a) in behind:
            row = "| %s | %s | %s | %s | %.2f× |" % (w, fmt_t(time[(w, BASE)][0]), a, fmt_t(time[(w, a)][0]), r)
            if shown:
                recheck_row = rechecked.get(w)
                pair = "—"
                if recheck_row:
                    pair = "%.2f× [%.2f–%.2f]" % (float(recheck_row["ratio_median"]), float(recheck_row["ratio_q1"]),
                                                 float(recheck_row["ratio_q3"]))
                    if recheck_row["peer"] != a:
                        pair += " (against %s)" % recheck_row["peer"]
                row += " %s |" % pair
            L.append(row)
    L.append("")

# ---- time against fa-preload ----
L.append("## Time\n")
L.append("Median wall time; in parentheses the ratio allocator / %s (**> 1: fastalloc is faster**).\n" % BASE)
L.append("| workload | " + " | ".join(names) + " |")
L.append("|---|" + "---:|" * len(names))
for s, title, ws in groups:
    L.append("| ***%s*** |%s" % (title, " |" * len(names)))
    for w in ws:
        L.append("| %s | %s |" % (w, " | ".join(cell(w, a, BASE) for a in names)))
    if len(ws) > 1:
        L.append("| *geomean, %s* | %s |" % (SHORT.get(s, s), " | ".join(
            geomean(ws, a, BASE).replace("**", "*") if a != BASE else "" for a in names)))
L.append("| **geometric mean, all %d workloads** | %s |" % (len(order), " | ".join(
    geomean(order, a, BASE) if a != BASE else "1.00×" for a in names)))
L.append("")

# ---- RSS ----
L.append("## Peak RSS\n")
L.append("From one checked run per allocator and workload (`/usr/bin/time -f %M`).\n")
L.append("| workload | " + " | ".join(names) + " |")
L.append("|---|" + "---:|" * len(names))
for w in order:
    L.append("| %s | %s |" % (w, " | ".join(fmt_mib(rss(w, a)) for a in names)))
L.append("| **geomean, / %s** | %s |" % (BASE, " | ".join(rss_geomean(order, a, BASE) for a in names)))
L.append("")

# ---- noise ----
cvs = [v for v in cv.values()]
if cvs:
    L.append("## Noise\n")
    qs = sorted(cvs)
    p90 = qs[min(len(qs) - 1, int(0.9 * len(qs)))]
    worst = sorted(cv.items(), key=lambda kv: -kv[1])[:5]
    L.append("Spread of the hyperfine runs behind each median: coefficient of variation (standard "
             "deviation / mean) over %d workload × allocator cells: median %.1f %%, 90th percentile "
             "%.1f %%, largest %s. Ratios within one hyperfine run are what to compare; on a busy "
             "machine absolute times drift between workloads.\n"
             % (len(cvs), 100 * statistics.median(cvs), 100 * p90,
                ", ".join("%.0f %% (%s, %s)" % (100 * v, w, a) for (w, a), v in worst)))
    L.append("| workload | " + " | ".join(names) + " |")
    L.append("|---|" + "---:|" * len(names))
    for w in order:
        L.append("| %s | %s |" % (w, " | ".join(
            "%.1f %%" % (100 * cv[(w, a)]) if (w, a) in cv else "—" for a in names)))
    L.append("")

fw = [w for w in order if wset[w] == "frag"]
if fw:
    L.append("## Fragmentation detail\n")
    L.append("`frag` prints, from /proc/self/statm: RSS with everything still live at the end "
             "(live = bytes requested then), and RSS after freeing it all (memory not given back).\n")
    L.append("| workload | allocator | live | RSS, all live | RSS / live | RSS after free | peak RSS |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    for w in fw:
        for a in names:
            r = info.get((w, a))
            if not r or not r["metrics"]:
                continue
            m = dict(kv.split(":") for kv in r["metrics"].split(",") if ":" in kv)
            live, rl, re_ = (int(m.get(k, 0)) for k in ("live_kib", "rss_live_kib", "rss_end_kib"))
            L.append("| %s | %s | %s | %s | %.2f | %s | %s |" % (
                w, a, fmt_mib(live), fmt_mib(rl), rl / live if live else 0, fmt_mib(re_), fmt_mib(rss(w, a))))
    L.append("")

abl = list(csv.DictReader(open(os.path.join(out, "ablation.tsv")), delimiter="\t"))
if abl:
    L.append("## Ablations\n")
    L.append("fastalloc compiled in, built with `-DFASTALLOC_RETIRE_CYCLES=0` (retire0: empty pages go "
             "back at once, churn set) and `-DFASTALLOC_ZERO_TRACKING=0` (notrack: every zeroing "
             "allocation is cleared, zero set), against the default build, same workload and N "
             "(calloc-huge: N=8); separate hyperfine runs (¹: variant slower than %s s, timed by its "
             "single checked run). Ratio variant / default: > 1 means the feature helps.\n" % E["SLOW"])
    L.append("| workload | variant | N | default | variant | variant / default |")
    L.append("|---|---|---:|---:|---:|---:|")
    for r in abl:
        w, v = r["workload"], r["variant"]
        med = hf_medians(os.path.join(out, w + ".ablation.json"))
        d, x, mark = med.get("fa-compiled"), med.get("fa-compiled-" + v), ""
        kind = r.get("kind") or "hf"
        if kind in ("single", "timeout"):
            # the variant was too slow for hyperfine: its checked run (or the timeout, a lower
            # bound) against the default's median
            x, mark = float(r["variant_secs"]), "¹"
            t = time.get((w, "fa-compiled"))
            main_n = info.get((w, "fa-compiled"), {}).get("n")
            d = t[0] if t and main_n == r["n"] else float(r["default_secs"])
        if d and x:
            if kind == "timeout":
                L.append("| %s | %s | %s | %s | > %g s | **>%.2f×** |" % (w, v, r["n"], fmt_t(d), x, x / d))
            else:
                L.append("| %s | %s | %s | %s | %s | **%.2f×** |" % (w, v, r["n"], fmt_t(d), fmt_t(x) + mark, x / d))
    L.append("")

L.append("Raw data next to this file: `<workload>.json` and `<workload>.hf.md` (hyperfine), "
         "`<workload>.ablation.*`, `suite.tsv` (checked runs: status, peak RSS, checksum, metrics).\n")
with open(os.path.join(out, "latest.md"), "w") as f:
    f.write("\n".join(L))

# Chart data: one row per workload, one column per allocator other than the base: time / base
# time (NaN: no figure; a timeout is drawn at its bound). The header's first word names the base.
with open(os.path.join(out, "ratios.dat"), "w") as f:
    f.write(BASE + " " + " ".join(others) + "\n")
    for w in order:
        vals = []
        for a in others:
            r = ratio(w, a, BASE)
            vals.append("%.4f" % r[0] if r else "NaN")
        f.write("%s %s\n" % (w, " ".join(vals)))
print("report.py: wrote %s/latest.md" % out)
