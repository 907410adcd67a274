#!/bin/sh
# bench_group_old_new.sh OLD_NODULEID OLD_LIBDIR NEW_NODULEID [RUNS]
# `noduleid group` on the sample exam with models/default.nidm: an old
# build (e.g. main before issue 14, its library in OLD_LIBDIR) against this
# build, runs interleaved (old, new, old, new, ...) so that machine load
# hits both alike; prints each run's wall time and the medians and their
# ratio, and checks that both print the same groups (--no-cannot-link: the
# old CLI had no constraints). 1 thread, OMP_WAIT_POLICY=PASSIVE. Wall
# times include process start-up (loading libtorch: seconds on a busy
# machine); timings.total_s is the work itself.
set -eu
old=$1; oldlib=$2; new=$3; runs=${4:-7}
src=$(cd "$(dirname "$0")/.." && pwd)
exam=$src/examples/sample-exam/P0001/P0001-E1.json
model=$src/models/default.nidm
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=PASSIVE
i=0
while [ $i -lt "$runs" ]; do
  for which in old new; do
    if [ $which = old ]; then
      set -- env LD_LIBRARY_PATH="$oldlib" "$old" group "$exam"
    else
      set -- "$new" group "$exam" --no-cannot-link
    fi
    t0=$(date +%s.%N)
    "$@" --model "$model" --threads 1 --json --quiet > "$tmp/$which.json"
    t1=$(date +%s.%N)
    tot=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings"]["total_s"])' "$tmp/$which.json")
    echo "$which $(echo "$t1 - $t0" | bc) $tot" >> "$tmp/times"
  done
  i=$((i + 1))
done
/usr/bin/python3 - "$tmp" <<'PY'
import json, statistics, sys
d = sys.argv[1]
t = {"old": [], "new": []}
g = {"old": [], "new": []}
for line in open(d + "/times"):
    w, s, tot = line.split(); t[w].append(float(s)); g[w].append(float(tot))
lab = {w: [x["cluster"] for x in json.load(open("%s/%s.json" % (d, w)))["tracklets"]] for w in t}
for w in t:
    print("%s runs (s): %s" % (w, " ".join("%.3f" % x for x in t[w])))
mo, mn = statistics.median(t["old"]), statistics.median(t["new"])
print("wall (process start-up included): median old %.3f s, new %.3f s, "
      "new/old %.3f" % (mo, mn, mn / mo))
go, gn = statistics.median(g["old"]), statistics.median(g["new"])
print("in-process (timings.total_s: exam, model, clips, embed, compare, "
      "cluster): median old %.3f s, new %.3f s, new/old %.3f" % (go, gn, gn / go))
print("same groups: %s" % (lab["old"] == lab["new"]))
sys.exit(0 if lab["old"] == lab["new"] else 1)
PY
