#!/bin/sh
# bench_group_speed.sh - `noduleid group` on a ~60-second exam (issue 19):
# the exam-level path as it was (one tracklet per forward pass,
# NID_EXAM_BATCH=1), batched (the default: the clips of several tracklets
# per pass) and batched in int8, in one run, as multiples of real time.
#
#   bench/bench_group_speed.sh [BUILD_DIR] [MODEL.nidm] [REPEATS]
#
# The exam: bench_e2e.sh's (one phantom patient, 5 videos, 1536 frames at
# 25 fps = 61.4 s, 35 tracklets; generated once into
# ${NID_BENCH_DIR:-/tmp/nid_bench_e2e}). MODEL defaults to
# models/default.nidm (it ships an int8 graph). Each run is a fresh process
# timed by wall clock, start-up and model load included; the variants
# alternate, REPEATS runs each (default 5) after one warm-up round.
# Threads: ${NID_BENCH_THREADS:-0} (0: all cores). Reported: medians, the
# speed as a multiple of real time (exam duration / time), the ratios to
# the first variant, the process CPU time (user + system, all threads:
# less disturbed by other jobs than wall time), the stage times
# `group --json` reports, and whether
# every variant found the first one's embeddings and groups.
#
# Variants: NID_BENCH_VARIANTS, space-separated NAME:PRECISION:BATCH[:BUILD
# [:VAR=VALUE]] (BATCH 0: the default exam batch, else NID_EXAM_BATCH;
# BUILD: another build directory, e.g. of the commit before, timed in the
# same run; VAR=VALUE: one environment setting for that variant). With
# NID_BENCH_BASE=OLD_BUILD the default list is the issue-19 comparison:
#   base:fp32:0:OLD_BUILD    the build before (per-tracklet clip building,
#                            model loaded before the clips)
#   one-pass:fp32:0::NODULEID_BACKGROUND_LOAD=0
#                            one decoding pass per video, model in front
#   batched:fp32:0           the default: the network loads in the
#                            background while the clips are built
#   batched-int8:int8:0
# Last, the floor of any fresh process on this machine: libtorch's own
# start-up (a bare Python dlopening libtorch_cpu, against the same Python
# without it).
set -eu
BUILD=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${2:-$top/models/default.nidm}
REPEATS=${3:-5}
THREADS=${NID_BENCH_THREADS:-0}
DIR=${NID_BENCH_DIR:-/tmp/nid_bench_e2e}
CLI="$BUILD/tools/noduleid/noduleid"
[ -x "$CLI" ] || { echo "bench_group_speed.sh: $CLI not built" >&2; exit 2; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p "$DIR"
EXAM=$(sh "$top/bench/e2e_exam.sh" "$DIR")
# the exam's duration: its videos' frames / fps (the exam file says them)
video_s=$(/usr/bin/python3 -c "import json, sys
d = json.load(open(sys.argv[1]))
print('%.2f' % sum(v['n_frames'] / v['fps'] for v in d['videos']))" "$EXAM")
if [ -n "${NID_BENCH_BASE:-}" ]; then
  DEFAULT_VARIANTS="base:fp32:0:$NID_BENCH_BASE one-pass:fp32:0::NODULEID_BACKGROUND_LOAD=0 batched:fp32:0 batched-int8:int8:0"
else
  DEFAULT_VARIANTS="per-tracklet:fp32:1 batched:fp32:0 batched-int8:int8:0"
fi
VARIANTS=${NID_BENCH_VARIANTS:-$DEFAULT_VARIANTS}
echo "exam $EXAM ($video_s s of video); model $MODEL; threads $THREADS; $REPEATS runs per variant;" \
     "cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
log="$DIR/group-speed.log"
: > "$log"
r=0
while [ $r -le "$REPEATS" ]; do   # round 0 is a warm-up (file cache), not counted
  for v in $VARIANTS; do
    IFS=: read -r name prec eb vbuild venv <<EOF
$v
EOF
    vcli=$CLI
    [ -n "$vbuild" ] && vcli="$vbuild/tools/noduleid/noduleid"
    [ -x "$vcli" ] || { echo "bench_group_speed.sh: $vcli not built" >&2; exit 2; }
    set -- env
    [ "$eb" -gt 0 ] && set -- "$@" "NID_EXAM_BATCH=$eb"
    [ -n "$venv" ] && set -- "$@" "$venv"
    t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$DIR/cpu.txt" "$@" "$vcli" group --model "$MODEL" \
      --threads "$THREADS" --precision "$prec" --json "$EXAM" > "$DIR/group-$name.json"
    t1=$(date +%s.%N)
    if [ $r -gt 0 ]; then
      echo "$name $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >> "$log"
      echo "$name.cpu $(awk '{ print $1 + $2 }' "$DIR/cpu.txt")" >> "$log"
      /usr/bin/python3 -c "import json, sys
t = json.load(open(sys.argv[1]))['timings']
print(sys.argv[2] + '.embed', t['embed_s']); print(sys.argv[2] + '.clips', t['clips_s'])
print(sys.argv[2] + '.load', t['load_model_s'] + t.get('model_wait_s', 0))" "$DIR/group-$name.json" "$name" >> "$log"
    fi
  done
  r=$((r + 1))
done
base=${VARIANTS%% *}; base=${base%%:*}
b=$(awk -v c="$base" '$1 == c { print $2 }' "$log" | median)
for v in $VARIANTS; do
  name=${v%%:*}
  t=$(awk -v c="$name" '$1 == c { print $2 }' "$log" | median)
  te=$(awk -v c="$name.embed" '$1 == c { print $2 }' "$log" | median)
  tc=$(awk -v c="$name.clips" '$1 == c { print $2 }' "$log" | median)
  tl=$(awk -v c="$name.load" '$1 == c { print $2 }' "$log" | median)
  tcpu=$(awk -v c="$name.cpu" '$1 == c { print $2 }' "$log" | median)
  groups=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); n=d.get('nodules'); print(len(n) if isinstance(n, list) else n)" "$DIR/group-$name.json" 2>/dev/null || echo '?')
  awk -v n="$name" -v t="$t" -v vs="$video_s" -v b="$b" -v g="$groups" -v te="$te" -v tc="$tc" -v tl="$tl" \
      -v cpu="$tcpu" 'BEGIN {
    printf "  %-14s %.2f s (median, process incl. start-up and load) = %.0fx real time; x%.2f vs the first; %s groups;" \
           " CPU %.2f s; stages (medians): load %.2f s, decode+clips %.2f s, embed %.3f s\n",
           n, t, vs / t, b / t, g, cpu, tl, tc, te }'
done
echo "  (load: the model load, plus any wait for a background load; decode+clips includes the clips built while"
echo "  the model loads in the background)"
# the same results: every variant's similarities and groups against the first's
/usr/bin/python3 - "$DIR" $(for v in $VARIANTS; do echo "${v%%:*}"; done) <<'EOF'
import json, sys
d, names = sys.argv[1], sys.argv[2:]
def load(n):
    return json.load(open("%s/group-%s.json" % (d, n)))
def part(r):
    lab = [t["cluster"] for t in r["tracklets"]]
    return sorted(sorted(i for i, l in enumerate(lab) if l == c) for c in set(lab))
ref = load(names[0])
for n in names[1:]:
    r = load(n)
    a, b = ref["similarity"]["matrix"], r["similarity"]["matrix"]
    diff = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
    print("  %s vs %s: %s; similarity matrix max |diff| %.3g" % (
        n, names[0], "the same groups" if part(r) == part(ref) else "OTHER GROUPS", diff))
EOF
# The floor of a fresh process: libtorch's own start-up (loading its
# libraries, their relocations and static constructors: the operator
# registry), timed as a bare Python that dlopens the libtorch the backend
# module links against that same Python without it, medians of REPEATS.
tmod="$BUILD/lib/noduleid-0/libnoduleid-torch.so"
tlib=$(ldd "$tmod" 2>/dev/null | awk '$1 ~ /^libtorch_cpu\.so/ { print $3; exit }')
if [ -n "$tlib" ]; then
  : > "$DIR/floor.log"
  r=0
  while [ $r -le "$REPEATS" ]; do
    for k in bare torch; do
      lib=""; [ $k = torch ] && lib=$tlib
      t0=$(date +%s.%N)
      /usr/bin/python3 -S -c "import ctypes, sys
if sys.argv[1]: ctypes.CDLL(sys.argv[1], ctypes.RTLD_GLOBAL)" "$lib"
      t1=$(date +%s.%N)
      [ $r -gt 0 ] && echo "$k $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >> "$DIR/floor.log"
    done
    r=$((r + 1))
  done
  fb=$(awk '$1 == "bare" { print $2 }' "$DIR/floor.log" | median)
  ft=$(awk '$1 == "torch" { print $2 }' "$DIR/floor.log" | median)
  awk -v b="$fb" -v t="$ft" -v vs="$video_s" 'BEGIN {
    printf "  floor: libtorch start-up (%s) %.2f s (median; a bare python3 -S %.3f s, with libtorch %.2f s):" \
           " a fresh process that loads it cannot beat %.0fx real time on this exam\n",
           "dlopen of libtorch_cpu", t - b, b, t, vs / (t - b) }'
fi
