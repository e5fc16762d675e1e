# workload.py — allocation-heavy Python workload for the LD_PRELOAD checks and benchmark.
# Builds a few hundred thousand objects (dicts, lists, tuples, strings), sorts, joins and hashes.
# Every printed line is deterministic (no iteration over sets: string hashing is randomised) and
# most can be derived independently; see run.sh for the expected values.
import hashlib
import os
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000   # keys (tools.sh: fewer, under valgrind)
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 20   # of the list churn
P = 7919            # prime, coprime to N: i -> i*P % N is a permutation of range(N)

# 1. dict of strings filled in a scrambled order, then sorted by key.
d = {}
for i in range(N):
    j = (i * P) % N
    d["item%d" % j] = str(j * j)
lines = sorted("%s=%s" % kv for kv in d.items())
blob = ("\n".join(lines) + "\n").encode()
print("keys", len(d))
print("sha256", hashlib.sha256(blob).hexdigest())

# 2. many small objects: records as dicts holding lists and tuples, grouped and aggregated.
recs = [{"id": i, "name": "r" + str(i), "tags": [i % 7, i % 11], "pt": (i, -i)} for i in range(N)]
groups = {}
for r in recs:
    groups.setdefault(r["tags"][0], []).append(r["id"])
print("groups", " ".join("%d:%d" % (k, len(groups[k])) for k in sorted(groups)))
print("namelen", sum(len(r["name"]) for r in recs))
recs.sort(key=lambda r: (r["tags"][1], -r["id"]))
print("first", recs[0]["id"], "last", recs[-1]["id"])
del recs, groups

# 3. string building and churn: repeated joins, slices and replacements of growing strings.
parts = []
for i in range(50000):
    s = "x" * (i % 97) + str(i)
    parts.append(s.upper().replace("X", "yz"))
joined = "|".join(parts)
print("joined", len(joined), hashlib.sha256(joined.encode()).hexdigest()[:16])

# 4. list-of-lists churn: grow and shrink many lists (realloc-heavy).
total = 0
for rnd in range(ROUNDS):
    ll = [list(range(k % 50)) for k in range(5000)]
    for l in ll:
        l.extend(l)
        del l[len(l) // 2:]
        total += sum(l)
print("listsum", total)
sys.stdout.flush()

# run.sh sets FA_MAPS_OUT to learn which libraries this process has mapped (is the preload in?).
if os.environ.get("FA_MAPS_OUT"):
    with open("/proc/self/maps") as src, open(os.environ["FA_MAPS_OUT"], "w") as dst:
        dst.write(src.read())
