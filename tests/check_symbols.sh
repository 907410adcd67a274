#!/bin/sh
# check_symbols.sh LIB - the shared library exports nid_* symbols only (no
# libtorch, FFmpeg, DCMTK or C++ runtime symbols leak), and has the SONAME
# libnoduleid.so.<major>.
set -eu
lib=$1
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[A-Za-z]$/ && $3 !~ /^nid_/ {print $3}')
if [ -n "$bad" ]; then
  echo "symbols exported outside the nid_ namespace:" >&2
  echo "$bad" >&2
  exit 1
fi
count=$(nm -D --defined-only "$lib" | awk '$3 ~ /^nid_/' | wc -l)
[ "$count" -gt 20 ] || { echo "only $count nid_ symbols exported" >&2; exit 1; }
soname=$(readelf -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
case "$soname" in
  libnoduleid.so.[0-9]*) ;;
  *) echo "unexpected SONAME '$soname'" >&2; exit 1 ;;
esac
echo "exports: $count nid_* symbols, nothing else; SONAME $soname"
