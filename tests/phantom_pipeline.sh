#!/bin/sh
# phantom_pipeline.sh NODULEID WORK_DIR - the phantom's output feeds the
# library: generate the `ci` scale, then every exam loads (noduleid
# tracklets) and every tracklet's first clip builds from the encoded video
# (noduleid clip), with its PNG frames written.
set -eu
nid=$1
work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$work"
mkdir -p "$work"
"$src/phantom/generate" --scale ci --seed 3 --out "$work/ci" --quiet
exams=$(/usr/bin/python3 -c '
import json, os, sys
d = json.load(open(sys.argv[1]))
root = os.path.dirname(sys.argv[1])
for split in ("train", "val", "test"):
    for p in d["splits"][split]:
        print(os.path.join(root, p))' "$work/ci/dataset.json")
[ -n "$exams" ] || { echo "phantom wrote no exam files" >&2; exit 1; }
n=0
for exam in $exams; do
  "$nid" tracklets --json "$exam" > "$work/tracklets.json"
  first=$(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ts = [t for v in d["videos"] for t in v["tracklets"]]
assert ts, "no tracklets"
assert all(t.get("nodule", -1) >= 0 for t in ts), "phantom tracklets carry nodule ids"
print(ts[0]["id"])' "$work/tracklets.json")
  out="$work/clip-$n"
  "$nid" clip --frames 8 --height 64 --width 32 "$exam" "$first" --out "$out" >/dev/null
  [ -s "$out/sheet.png" ] || { echo "no contact sheet for $exam $first" >&2; exit 1; }
  [ "$(ls "$out"/frame_*.png | wc -l)" -eq 8 ] || { echo "expected 8 PNG frames in $out" >&2; exit 1; }
  n=$((n + 1))
done
echo "phantom pipeline: $n exams loaded, one clip each built and written"
