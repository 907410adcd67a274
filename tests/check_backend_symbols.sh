#!/bin/sh
# check_backend_symbols.sh LIB MODULE... - libnoduleid links none of
# libtorch, FFmpeg, DCMTK (they are backend modules, lib/core/backend.h),
# and each module exports exactly its entry nid_backend_<name>_v<abi>.
set -eu
lib=$1; shift
# NID_PROBE_PRELOADED=1: a sanitizer build, which links them on purpose
# (lib/CMakeLists.txt)
if [ "${NID_PROBE_PRELOADED:-0}" != 1 ] &&
   readelf -d "$lib" | grep NEEDED | grep -E 'torch|c10|libav|libsw|dcm|oflog|ofstd|stdc\+\+'; then
  echo "$lib links a backend library (above)" >&2
  exit 1
fi
for m in "$@"; do
  name=$(basename "$m" .so)
  name=${name#libnoduleid-}
  syms=$(nm -D --defined-only "$m" | awk '$2 ~ /^[A-Za-z]$/ {print $3}')
  case "$syms" in
    "nid_backend_${name}_v"[0-9]*) ;;
    *) echo "$m exports '$syms', expected only nid_backend_${name}_v<abi>" >&2
       exit 1 ;;
  esac
  [ "$(echo "$syms" | wc -l)" = 1 ] || { echo "$m exports more: $syms" >&2; exit 1; }
  echo "$m: exports $syms"
done
echo "libnoduleid links no backend library; $# module(s) export their entry only"
