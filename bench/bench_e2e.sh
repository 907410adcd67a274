#!/bin/sh
# bench_e2e.sh - end to end: a ~60-second exam from its files to nodule
# groups, as a multiple of real time (processing time / the exam's duration).
#
#   bench/bench_e2e.sh [BUILD_DIR] [MODEL.nidm] [REPEATS]
#
# The exam: one phantom patient with 4 nodules, 5 videos, 1536 frames at
# 25 fps = 61.4 s, 35 tracklets, 320 x 240 H.264 (generated once with the
# knobs below, cached in ${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_e2e}).
# The model: MODEL (e.g. the trained runs/cm-default/model.nidm), else a
# random-weight package of the default model's shape (compact R(2+1)D,
# 3 x 8 x 128 x 64): the time does not depend on the weights.
# Sides, each a fresh process per run, alternating, REPEATS runs (default 5):
#   cli     `noduleid group --model MODEL EXAM --json` (the other helper's
#           command; skipped when this build's CLI has no `group`), timed
#           by wall clock including process start and model load;
#   python  bench/bench_e2e.py through the Python binding (same steps:
#           load, decode + clips + embed per tracklet, compare, cluster),
#           with its stage times.
# Reported: medians, the real-time factor (time / exam duration; < 1 is
# faster than real time) and the CLI / Python ratio.
# Threads: ${NID_BENCH_THREADS:-0} (0: all cores). The Python binding must be
# importable (PYTHONPATH, LD_LIBRARY_PATH: see training/README.md "Setup").
set -eu
BUILD=${1:-build}
MODEL=${2:-}
REPEATS=${3:-5}
THREADS=${NID_BENCH_THREADS:-0}
DIR=${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_e2e}
PY=/usr/bin/python3
top=$(cd "$(dirname "$0")/.." && pwd)
CLI="$BUILD/tools/noduleid/noduleid"
mkdir -p "$DIR"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

EXAM=$(sh "$top/bench/e2e_exam.sh" "$DIR")
if [ -z "$MODEL" ]; then
  MODEL="$DIR/default-shape.nidm"
  [ -s "$MODEL" ] || (cd "$top" && $PY -m training.noduleid_models.export --arch compact \
       --random-init --frames 8 --height 128 --width 64 --out "$MODEL" >/dev/null)
fi
$PY -c "import noduleid" 2>/dev/null || {
  echo "bench_e2e.sh: the noduleid Python binding is not importable (PYTHONPATH)" >&2; exit 2; }

have_cli=0
if [ -x "$CLI" ] && "$CLI" group --help >/dev/null 2>&1; then have_cli=1; fi
echo "exam $EXAM; model $MODEL; threads $THREADS; $REPEATS runs per side;" \
     "CLI group: $([ $have_cli = 1 ] && echo "$CLI" || echo 'not available')"

field() { sed -n "s/\(^\|.* \)$1=\([^ ]*\).*/\2/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

log="$DIR/e2e.log"
: > "$log"
r=0
while [ $r -le "$REPEATS" ]; do   # run 0 is a warm-up (file cache), not counted
  if [ $have_cli = 1 ]; then
    t0=$(date +%s.%N)
    if [ "$THREADS" -gt 0 ]; then
      "$CLI" group --model "$MODEL" --threads "$THREADS" --json "$EXAM" > "$DIR/group.json"
    else
      "$CLI" group --model "$MODEL" --json "$EXAM" > "$DIR/group.json"
    fi
    t1=$(date +%s.%N)
    [ $r -gt 0 ] && echo "cli $(elapsed "$t0" "$t1")" >> "$log"
  fi
  t0=$(date +%s.%N)
  out=$($PY "$top/bench/bench_e2e.py" "$EXAM" "$MODEL" --threads "$THREADS")
  t1=$(date +%s.%N)
  [ $r -eq 0 ] && echo "  $out"
  if [ $r -gt 0 ]; then
    echo "pyproc $(elapsed "$t0" "$t1")" >> "$log"
    for k in load_s embed_s cluster_s total_s video_s; do
      echo "$k $(echo "$out" | field $k)" >> "$log"
    done
  fi
  r=$((r + 1))
done
m() { awk -v c="$1" '$1 == c { print $2 }' "$log" | median; }
video=$(m video_s)
awk -v v="$video" -v pp="$(m pyproc)" -v tot="$(m total_s)" -v l="$(m load_s)" \
    -v e="$(m embed_s)" -v c="$(m cluster_s)" 'BEGIN {
  printf "python (binding): process %.2f s = %.3f x real time; in-process %.2f s = %.3f x" \
         " (load %.2f s, decode+clips+embed %.2f s, compare+cluster %.4f s); exam %.1f s\n",
         pp, pp / v, tot, tot / v, l, e, c, v }'
if [ $have_cli = 1 ]; then
  awk -v v="$video" -v cl="$(m cli)" -v pp="$(m pyproc)" 'BEGIN {
    printf "cli (noduleid group): process %.2f s = %.3f x real time; ratio python/cli %.2f\n",
           cl, cl / v, pp / cl }'
  $PY -c "import json,sys; d=json.load(open(sys.argv[1])); n=d.get('nodules'); \
print('cli result: %s nodule groups' % (len(n) if isinstance(n, list) else n))" \
      "$DIR/group.json" 2>/dev/null || true
fi
