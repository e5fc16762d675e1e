#!/usr/bin/env python3
"""bench/report.py -- turns bench/suite.sh's suite.tsv, ablation.tsv and hyperfine JSON files into
latest.md and ratios.dat (the data of the chart). Called by suite.sh with its settings in the
environment (OUT, NAMES, MACHINE, LOAD_NOTE, HF, TIMEOUT, SLOW, HDR, PEERS, SKIPPED, ELAPSED)."""
import csv, json, math, os

E = os.environ
out = E["OUT"]
names = E["NAMES"].split()
peers = [a for a in names if a != "fastalloc"]
timeout = float(E.get("TIMEOUT", "10"))
SETS = [("churn", "Alloc/free churn (single thread; prodcons-64: 2 threads)"),
        ("zero", "Zeroed memory and realloc"),
        ("threads", "Multi-threaded (2 and 4 threads on this machine's cores)"),
        ("frag", "Fragmentation"),
        ("app", "Application-shaped")]

rows = list(csv.DictReader(open(os.path.join(out, "suite.tsv")), delimiter="\t"))
order, wset, info = [], {}, {}
for r in rows:
    w = r["workload"]
    if w not in wset:
        order.append(w)
        wset[w] = r["set"]
    info[(w, r["allocator"])] = r


def hf_medians(path):
    try:
        with open(path) as f:
            return {res["command"]: res["median"] for res in json.load(f)["results"]}
    except (OSError, ValueError, KeyError):
        return {}


# time[(w, a)] = (seconds, kind): kind "" (hyperfine median), "single" (one checked run),
# "timeout" (seconds is the lower bound), or None when the run failed.
time = {}
for w in order:
    med = hf_medians(os.path.join(out, w + ".json"))
    for a in names:
        r = info.get((w, a))
        if r is None:
            continue
        if r["status"] == "ok" and a in med:
            time[(w, a)] = (med[a], "")
        elif r["status"] == "single" or (r["status"] == "ok" and not med):
            time[(w, a)] = (float(r["seconds"]), "single")
        elif r["status"] == "timeout":
            time[(w, a)] = (timeout, "timeout")


def fmt_t(s):
    return "%.0f ms" % (s * 1e3) if s >= 0.1 else "%.1f ms" % (s * 1e3) if s >= 0.001 else "%.0f µs" % (s * 1e6)


def ratio(w, a):
    """(ratio allocator/fastalloc, is_lower_bound) or None."""
    t, f = time.get((w, a)), time.get((w, "fastalloc"))
    if not t or not f or f[1] == "timeout":
        return None
    return t[0] / f[0], t[1] == "timeout"


def cell(w, a):
    t = time.get((w, a))
    if t is None:
        st = info.get((w, a), {}).get("status", "")
        return "FAILED" if st == "fail" else "—"
    s, kind = t
    if kind == "timeout":
        txt = "> %g s" % timeout
    else:
        txt = fmt_t(s) + ("¹" if kind == "single" else "")
    if a != "fastalloc":
        r = ratio(w, a)
        if r:
            txt += " (%s%.2f×)" % (">" if r[1] else "", r[0])
    return txt


def geomean(ws, a):
    rs = [ratio(w, a) for w in ws]
    rs = [r for r in rs if r]
    if not rs:
        return "—"
    g = math.exp(sum(math.log(r[0]) for r in rs) / len(rs))
    return "**%s%.2f×**" % ("≥" if any(r[1] for r in rs) else "", g)


def rss(w, a):
    r = info.get((w, a))
    if not r or r["peak_rss_kib"] in ("", "n/a") or r["status"] == "fail":
        return None
    return int(r["peak_rss_kib"])


def fmt_mib(k):
    return "—" if k is None else "%.1f MiB" % (k / 1024) if k < 1024 * 100 else "%.0f MiB" % (k / 1024)


L = []
L.append("# fastalloc benchmark suite\n")
L.append("Machine: %s · load: %s · fastalloc.h %s · %s · timeout %s s · %s s suite time\n"
         % (E["MACHINE"], E["LOAD_NOTE"], E.get("HDR", "?"), E["HF"], E["TIMEOUT"], E.get("ELAPSED", "?")))
L.append("Allocators: fastalloc compiled in (`w_*_fa`); glibc = the system build `w_*_sys`; peers "
         "LD_PRELOADed into that same binary: %s%s\n"
         % (E.get("PEERS", "").strip() or "none",
            ("; skipped: " + E["SKIPPED"]) if E.get("SKIPPED") else ""))
L.append("Cells: median wall time of the hyperfine runs; in parentheses the ratio allocator / fastalloc "
         "(**> 1: fastalloc is faster**). `> %s s`: stopped at the timeout (the ratio is a lower bound, "
         "and a geometric mean that includes one is marked ≥). ¹: slower than %s s in its checked run, "
         "timed by that single run. Workloads are described at the top of each `bench/w_*.c`; N is the "
         "program's default. Regenerate with `make bench`.\n" % (E["TIMEOUT"], E["SLOW"]))

L.append("## Time\n")
L.append("| workload | " + " | ".join(names) + " |")
L.append("|---|" + "---:|" * len(names))
for s, title in SETS:
    ws = [w for w in order if wset[w] == s]
    if not ws:
        continue
    L.append("| ***%s*** |%s" % (title, " |" * len(names)))
    for w in ws:
        L.append("| %s | %s |" % (w, " | ".join(cell(w, a) for a in names)))
    if len(ws) > 1:
        L.append("| *geomean, %s* | | %s |" % (s, " | ".join(geomean(ws, a).replace("**", "*") for a in peers)))
L.append("| **geometric mean, all %d workloads** | 1.00× | %s |"
         % (len(order), " | ".join(geomean(order, a) for a in peers)))
L.append("")

L.append("## Peak RSS\n")
L.append("From one checked run per allocator and workload (`/usr/bin/time -f %M`).\n")
L.append("| workload | " + " | ".join(names) + " |")
L.append("|---|" + "---:|" * len(names))
for w in order:
    L.append("| %s | %s |" % (w, " | ".join(fmt_mib(rss(w, a)) for a in names)))
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
    L.append("fastalloc built with `-DFASTALLOC_RETIRE_CYCLES=0` (retire0: empty pages go back at once, "
             "churn set) and `-DFASTALLOC_ZERO_TRACKING=0` (notrack: every zeroing allocation is cleared, "
             "zero set), against the default build, same workload and N (calloc-huge: N=8); separate hyperfine runs "
             "(¹: variant slower than %s s, timed by its single checked run). "
             "Ratio variant / default: > 1 means the feature helps.\n" % E["SLOW"])
    L.append("| workload | variant | N | default | variant | variant / default |")
    L.append("|---|---|---:|---:|---:|---:|")
    for r in abl:
        w, v = r["workload"], r["variant"]
        med = hf_medians(os.path.join(out, w + ".ablation.json"))
        d, x, mark = med.get("fastalloc"), med.get("fastalloc-" + v), ""
        if (r.get("kind") or "hf") == "single":
            # the variant was too slow for hyperfine: its checked run against the default's median
            x, mark = float(r["variant_secs"]), "¹"
            t = time.get((w, "fastalloc"))
            main_n = info.get((w, "fastalloc"), {}).get("n")
            d = t[0] if t and main_n == r["n"] else float(r["default_secs"])
        if d and x:
            L.append("| %s | %s | %s | %s | %s | **%.2f×** |" % (w, v, r["n"], fmt_t(d), fmt_t(x) + mark, x / d))
    L.append("")

L.append("Raw data next to this file: `<workload>.json` and `<workload>.hf.md` (hyperfine), "
         "`<workload>.ablation.*`, `suite.tsv` (checked runs: status, peak RSS, checksum, metrics).\n")
with open(os.path.join(out, "latest.md"), "w") as f:
    f.write("\n".join(L))

# Chart data: one row per workload, one column per peer (lower bounds for timeouts, 0 = none).
with open(os.path.join(out, "ratios.dat"), "w") as f:
    f.write("workload " + " ".join(peers) + "\n")
    for w in order:
        vals = []
        for a in peers:
            r = ratio(w, a)
            vals.append("%.4f" % r[0] if r else "NaN")
        f.write("%s %s\n" % (w, " ".join(vals)))
print("report.py: wrote %s/latest.md" % out)
