#!/bin/sh
# bench_embed_peak.sh - the default model's forward pass as a fraction of
# this machine's float32 peak (issue 19), in one run.
#
#   bench/bench_embed_peak.sh [BUILD_DIR] [MODEL.nidm] [REPEATS] [ROUNDS]
#
# Each round, in fresh processes: the peak (bench_embed.py peak: the
# fastest of torch.mm and oneDNN's matmul, 2048^3 and 4096^3 float32, the
# same threads), then bench_embed (the C path, optimised fp32 module) at each
# batch size of NID_BENCH_CLIPS (default "1 4 8 14 21 32 64" clips per
# forward pass). Medians over ROUNDS (default 3) of each process's median
# of REPEATS (default 10) calls. Reported per batch size: s/clip, GFLOP/s
# (bench_embed.py flops: 2 per multiply-add of every convolution and
# linear layer of the extractor) and the fraction of the peak measured in
# the same run; the best batch size; then the operator profile of one
# forward pass at that size (bench_embed.py profile). Threads:
# ${NID_BENCH_THREADS:-2}. MODEL defaults to models/default.nidm.
set -eu
BUILD=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${2:-$top/models/default.nidm}
REPEATS=${3:-10}
ROUNDS=${4:-3}
THREADS=${NID_BENCH_THREADS:-2}
CLIPS=${NID_BENCH_CLIPS:-1 4 8 14 21 32 64}
PY=/usr/bin/python3
BENCH="$BUILD/bench/bench_embed"
[ -x "$BENCH" ] || { echo "bench_embed_peak.sh: $BENCH not built" >&2; exit 2; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
field() { sed -n "s/\(^\|.* \)$1=\([^ ]*\).*/\2/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
flops=$($PY "$top/bench/bench_embed.py" flops "$MODEL" | field flops)
echo "model $MODEL; $(awk -v f="$flops" 'BEGIN { printf "%.3f GFLOP/clip", f / 1e9 }');" \
     "threads $THREADS; $ROUNDS rounds x $REPEATS calls; cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1);" \
     "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
r=0
while [ $r -lt "$ROUNDS" ]; do
  out=$($PY "$top/bench/bench_embed.py" peak --threads "$THREADS" --repeats 5 --size 2048,4096)
  echo "  $out"
  echo "peak $(echo "$out" | field gflops)" >> "$log"
  for c in $CLIPS; do
    out=$("$BENCH" "$MODEL" --clips "$c" --threads "$THREADS" --repeats "$REPEATS")
    echo "  $out"
    echo "c$c $(echo "$out" | field per_clip_s) $(echo "$out" | field cpu_per_clip_s)" >> "$log"
  done
  r=$((r + 1))
done
peak=$(awk '$1 == "peak" { print $2 }' "$log" | median)
best=; bestf=0
for c in $CLIPS; do
  t=$(awk -v k="c$c" '$1 == k { print $2 }' "$log" | median)
  cpu=$(awk -v k="c$c" '$1 == k { print $3 }' "$log" | median)
  g=$(awk -v f="$flops" -v t="$t" 'BEGIN { printf "%.1f", f / t / 1e9 }')
  awk -v c="$c" -v t="$t" -v g="$g" -v p="$peak" -v cpu="$cpu" 'BEGIN {
    printf "  %3d clips/pass: %.4f s/clip (CPU %.4f s/clip), %.1f GFLOP/s = %.1f%% of the %.1f GFLOP/s peak\n",
           c, t, cpu, g, 100 * g / p, p }'
  if awk -v g="$g" -v b="$bestf" 'BEGIN { exit !(g > b) }'; then best=$c; bestf=$g; fi
done
awk -v c="$best" -v g="$bestf" -v p="$peak" 'BEGIN {
  printf "  best: %d clips per pass, %.1f GFLOP/s = %.1f%% of the peak (median of the rounds)\n", c, g, 100 * g / p }'
# the profile runs in Python: with the malloc thresholds nid_model_load sets
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864 \
  $PY "$top/bench/bench_embed.py" profile "$MODEL" --clips "$best" --threads "$THREADS" \
  --repeats "$REPEATS" | sed 's/^/  /'
