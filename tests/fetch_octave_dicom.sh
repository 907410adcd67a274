#!/bin/sh
# fetch_octave_dicom.sh OUTDIR - put US-PAL-8-10x-echo.dcm (RLE, palette
# colour ultrasound, 10 frames) into OUTDIR for test_video (ctest fixture).
# The file is GPL-3+ (Debian package octave-dicom), so it is not committed:
# it is taken from the package with `apt-get download` + `dpkg -x`, which
# needs the Debian archive to be reachable (no root needed). Idempotent:
# does nothing when the file is already there. Fails loudly otherwise, so
# the test that needs it is not run rather than silently passing.
set -eu
out=${1:?usage: fetch_octave_dicom.sh OUTDIR}
name=US-PAL-8-10x-echo.dcm
mkdir -p "$out"
if [ -s "$out/$name" ]; then
  exit 0
fi
fail() {
  echo "fetch_octave_dicom.sh: cannot obtain $name: $*" >&2
  echo "fetch_octave_dicom.sh: it comes from the Debian package octave-dicom;" \
       "run with access to the Debian archive (apt-get update may be needed)," \
       "or copy the file to $out/$name" >&2
  exit 1
}
command -v apt-get >/dev/null 2>&1 || fail "apt-get not found"
command -v dpkg >/dev/null 2>&1 || fail "dpkg not found"
tmp=$(mktemp -d "$out/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
download() { (cd "$tmp" && apt-get download -q octave-dicom >/dev/null 2>"$tmp/apt.log"); }
# A machine whose package lists were never fetched cannot download: as root,
# refresh them once and try again.
if ! download; then
  if [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1 && download; then
    :
  else
    fail "apt-get download octave-dicom failed: $(tail -n 2 "$tmp/apt.log")"
  fi
fi
deb=$(find "$tmp" -maxdepth 1 -name "octave-dicom_*.deb" | head -n 1)
[ -n "$deb" ] || fail "no .deb downloaded"
dpkg -x "$deb" "$tmp/x" || fail "dpkg -x $deb failed"
src=$(find "$tmp/x" -name "$name" | head -n 1)
[ -n "$src" ] || fail "$name not found in $(basename "$deb")"
# Must be DICOM Part 10: "DICM" after the 128-byte preamble.
magic=$(dd if="$src" bs=1 skip=128 count=4 2>/dev/null)
[ "$magic" = "DICM" ] || fail "$src is not a DICOM file"
cp "$src" "$out/$name.part"
mv "$out/$name.part" "$out/$name"
echo "fetch_octave_dicom.sh: $out/$name from $(basename "$deb")"
