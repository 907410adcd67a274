#!/bin/sh
# gen_dicoms.sh OUTDIR MONO.dcm - compressed DICOM variants for test_video
# (ctest fixture), made with DCMTK's command-line tools (Debian package
# dcmtk) and the ffmpeg CLI:
#   mono_rle.dcm            MONO.dcm re-encoded RLE Lossless
#   mono_jpeg_lossless.dcm  MONO.dcm re-encoded JPEG Lossless SV1 (process 14)
#   mono_jpeg_baseline.dcm  MONO.dcm re-encoded JPEG Baseline (lossy)
#   rgb444.jpg              testsrc2 160x120 frame, JPEG 4:4:4 (ffmpeg)
#   rgb444_jpeg.dcm         rgb444.jpg wrapped as a YBR_FULL_422 JPEG
#                           Baseline single-frame DICOM (img2dcm)
#   claims_{100,1,0,neg5,abc}.dcm, rle_claims_{100,1}.dcm, jpeg_claims_3.dcm
#                           the 8-frame loop with a wrong Number of Frames
#                           (dcmodify; test_reliability)
set -eu
out=${1:?usage: gen_dicoms.sh OUTDIR MONO.dcm}
mono=${2:?usage: gen_dicoms.sh OUTDIR MONO.dcm}
for tool in dcmcrle dcmcjpeg img2dcm dcmodify ffmpeg; do
  command -v $tool >/dev/null 2>&1 || {
    echo "gen_dicoms.sh: $tool not found (apt-get install dcmtk ffmpeg)" >&2
    exit 1
  }
done
mkdir -p "$out"
cd "$out"
dcmcrle "$mono" mono_rle.dcm
dcmcjpeg +e1 "$mono" mono_jpeg_lossless.dcm
dcmcjpeg +eb "$mono" mono_jpeg_baseline.dcm
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
  -i testsrc2=size=160x120 -frames:v 1 -q:v 2 -pix_fmt yuvj444p rgb444.jpg
img2dcm -i JPEG rgb444.jpg rgb444_jpeg.dcm
claims() { # SRC OUT VALUE
  cp "$1" "$2"
  dcmodify -nb -m "(0028,0008)=$3" "$2"
}
claims "$mono" claims_100.dcm 100
claims "$mono" claims_1.dcm 1
claims "$mono" claims_0.dcm 0
claims "$mono" claims_neg5.dcm -5
claims "$mono" claims_abc.dcm abc
claims mono_rle.dcm rle_claims_100.dcm 100
claims mono_rle.dcm rle_claims_1.dcm 1
claims mono_jpeg_lossless.dcm jpeg_claims_3.dcm 3
echo "gen_dicoms.sh: compressed DICOM files in $out"
