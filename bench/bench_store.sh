#!/bin/sh
# bench_store.sh - the gallery store at archive scale (issue 18).
#
#   bench/bench_store.sh [BUILD_DIR] [NODULES] [PATIENTS]
#
# Builds two stores with bench_store (default 10^6 nodules / 2 x 10^5
# patients, and 10^4 / 2 x 10^3 to show what does not grow with size) in
# ${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_store} (600 MB; kept between
# runs), then, each a fresh process:
#   ops small, ops big, ops small, ops big   open / add one exam / match one
#                                           exam (medians of 200), peak RSS
#   file big                                 baseline: the same gallery as
#                                           one gallery file (load, load +
#                                           add + save, load + match;
#                                           medians of 3)
#   writers big 4 1000                       4 processes x 1000 exams at
#                                           once; count and checksum
# and prints every line; ratios = baseline / store.
set -eu
BUILD=${1:-build}
N=${2:-1000000}
P=${3:-200000}
DIR=${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_store}
B="$BUILD/bench/bench_store"
mkdir -p "$DIR"
echo "bench_store: $N nodules / $P patients in $DIR; $(nproc) cores; load $(cut -d' ' -f1 /proc/loadavg)"
[ -s "$DIR/small.nidb" ] || "$B" build "$DIR/small.nidb" $((N / 100)) $((P / 100))
[ -s "$DIR/big.nidb" ] || "$B" build "$DIR/big.nidb" "$N" "$P"
ls -l "$DIR"/small.nidb "$DIR"/big.nidb | awk '{print "  " $5 " bytes " $NF}'
for i in 1 2; do
  for s in small big; do "$B" ops "$DIR/$s.nidb" 200; done
done | tee "$DIR/ops.txt"
"$B" file "$DIR/big.nidb" "$DIR/big.nidg" 3 | tee "$DIR/file.txt"
rm -f "$DIR/big.nidg"
"$B" writers "$DIR/big.nidb" 4 1000 | tee "$DIR/writers.txt"
# ratios on the big store: baseline (gallery file) / store, medians
awk '
  /^ops/ && $3 >= 100000 { for (i = 1; i < NF; i++) v[$i] = $(i + 1);
         add = v["add_exam_ms"]; match_ = v["match_ms"]; open_ = v["open_ms"] }
  /^file/ { for (i = 1; i < NF; i++) f[$i] = $(i + 1) }
  END { printf "big store vs gallery file: add one exam %.0fx faster, match one exam %.0fx, open %.0fx (file: load)\n",
               f["add_exam_ms"] / add, f["match_ms"] / match_, f["load_ms"] / open_ }
' "$DIR/ops.txt" "$DIR/file.txt"
