#!/bin/sh
# gen_videos.sh OUTDIR - make the small test videos of test_video with the
# ffmpeg CLI (ctest fixture). Deterministic content:
#   h264.mp4       testsrc2 160x120, 25 fps, 50 frames, libx264 GOP 12 with
#                  B-frames, yuv420p (limited range): seeking and reordering
#   h264.mkv       the same stream remuxed to Matroska (ms timestamps)
#   mjpeg.avi      testsrc2 full-range yuvj422p MJPEG, 30 frames
#   levels.avi     MJPEG yuvj420p full range: 5 black, 5 white, 5 gray-128
#                  frames (flat), to check levels are not squeezed to 16..235
#   levels_h264.mp4 the same levels as limited-range H.264 yuv420p
#   ffv1_gray.mkv  FFV1 gray lossless from ramp.gray: 67x45, 30 frames,
#                  pixel(x, y, f) = (3x + 5y + 7f) mod 256, GOP 10
#   truncated.mp4  h264.mp4 (moov first) cut to 40% of its bytes
#   nomoov.mp4     h264.mp4 (moov last) cut to 60%: no index at all
#   garbage.mp4    4 KiB of pseudo-random bytes
#   notes.txt      a text file
set -eu
out=${1:?usage: gen_videos.sh OUTDIR}
mkdir -p "$out"
cd "$out"
if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "gen_videos.sh: ffmpeg CLI not found (apt-get install ffmpeg)" >&2
  exit 1
fi
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

src="testsrc2=size=160x120:rate=25"
ff -f lavfi -i "$src" -frames:v 50 -c:v libx264 -preset ultrafast -g 12 \
   -bf 2 -x264-params scenecut=0 -pix_fmt yuv420p -movflags +faststart \
   h264.mp4
ff -i h264.mp4 -c copy h264.mkv
ff -f lavfi -i "$src" -frames:v 50 -c:v libx264 -preset ultrafast -g 12 \
   -bf 2 -pix_fmt yuv420p h264_moovlast.mp4
ff -f lavfi -i "$src" -frames:v 30 -c:v mjpeg -q:v 3 -pix_fmt yuvj422p \
   mjpeg.avi

lv() { echo "color=c=$1:size=64x48:rate=25:duration=0.2"; }
ff -f lavfi -i "$(lv black)" -f lavfi -i "$(lv white)" -f lavfi -i "$(lv 0x808080)" \
   -filter_complex "[0][1][2]concat=n=3:v=1" -c:v mjpeg -q:v 2 \
   -pix_fmt yuvj420p levels.avi
ff -f lavfi -i "$(lv black)" -f lavfi -i "$(lv white)" -f lavfi -i "$(lv 0x808080)" \
   -filter_complex "[0][1][2]concat=n=3:v=1" -c:v libx264 -preset ultrafast \
   -qp 0 -pix_fmt yuv420p levels_h264.mp4

# Known gray frames, written without any tool but the shell's awk.
LC_ALL=C awk 'BEGIN {
  w = 67; h = 45; n = 30
  for (f = 0; f < n; f++) for (y = 0; y < h; y++) for (x = 0; x < w; x++)
    printf "%c", (3 * x + 5 * y + 7 * f) % 256
}' /dev/null > ramp.gray
ff -f rawvideo -pix_fmt gray -video_size 67x45 -framerate 25 -i ramp.gray \
   -c:v ffv1 -level 3 -g 10 ffv1_gray.mkv

size=$(wc -c < h264.mp4)
head -c $((size * 4 / 10)) h264.mp4 > truncated.mp4
size=$(wc -c < h264_moovlast.mp4)
head -c $((size * 6 / 10)) h264_moovlast.mp4 > nomoov.mp4
LC_ALL=C awk 'BEGIN { s = 12345; for (i = 0; i < 4096; i++) {
  s = (s * 1103515245 + 12345) % 2147483648; printf "%c", int(s / 65536) % 256 } }' \
  /dev/null > garbage.mp4
printf 'These are notes, not a video.\nSecond line.\n' > notes.txt
echo "gen_videos.sh: test videos in $out"
