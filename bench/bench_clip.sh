#!/bin/sh
# bench_clip.sh - clip building (decode + crop + resize) against the ffmpeg
# command line, on an H.264 and an MJPEG ultrasound-like video (640x480,
# 25 fps, 60 s of moving gray texture with temporal speckle noise, made
# here with ffmpeg's lavfi sources).
#
#   bench/bench_clip.sh [BUILD_DIR] [REPEATS]
#
# Prints, per codec and thread count, the median times and the ratio
# ffmpeg time / noduleid time (>= 1.0: at least as fast as ffmpeg).
# Videos are cached in ${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_clip}.
set -eu
BUILD=${1:-build}
REPEATS=${2:-5}
DIR=${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_clip}
BENCH="$BUILD/bench/bench_clip"
[ -x "$BENCH" ] || { echo "bench_clip.sh: $BENCH not built" >&2; exit 2; }
command -v ffmpeg >/dev/null || { echo "bench_clip.sh: ffmpeg not found" >&2; exit 2; }
mkdir -p "$DIR"

# ultrasound-like: a slowly moving gray pattern, blurred, with speckle
SRC="testsrc2=s=640x480:r=25:d=60,format=gray,boxblur=4,noise=alls=24:allf=t+u"
if [ ! -s "$DIR/us_h264.mp4" ]; then
  ffmpeg -v error -y -f lavfi -i "$SRC" -c:v libx264 -preset medium -crf 23 \
         -pix_fmt yuv420p "$DIR/us_h264.mp4"
fi
if [ ! -s "$DIR/us_mjpeg.avi" ]; then
  ffmpeg -v error -y -f lavfi -i "$SRC" -c:v mjpeg -q:v 3 \
         -pix_fmt yuvj420p "$DIR/us_mjpeg.avi"
fi

# a nodule-sized box off the centre; margin 0.1 makes the crop 288x240
for video in "$DIR/us_h264.mp4" "$DIR/us_mjpeg.avi"; do
  for threads in 1 2; do
    "$BENCH" "$video" 200 120 240 200 --threads "$threads" \
             --repeats "$REPEATS" --margin 0.1 --channels 1
  done
done
