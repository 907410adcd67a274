#!/bin/sh
# e2e_exam.sh DIR - the ~60-second exam of bench_e2e.sh and
# bench_group_speed.sh (one phantom patient with 4 nodules, 5 videos, 1536
# frames at 25 fps = 61.4 s, 35 tracklets, 320 x 240 H.264), generated once
# into DIR/exam; prints the exam JSON's path.
set -eu
DIR=$1
top=$(cd "$(dirname "$0")/.." && pwd)
EXAM="$DIR/exam/P0001/P0001-E1.json"
if [ ! -s "$EXAM" ]; then
  rm -rf "$DIR/exam"
  (cd "$top" && phantom/generate --scale sample --seed 1 --out "$DIR/exam" \
     --set patients=1 --set 'nodules_probs=[0,0,0,1]' --set visits_per_nodule=5 \
     --set len_median=63 --set len_sigma=0.5 --set len_cap=200 \
     --set 'visits_per_video=[0,0,0.5,0.5]' >/dev/null)
fi
echo "$EXAM"
