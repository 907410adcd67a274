#!/bin/sh
# check_symbols.sh LIB [EXPORTS] - the shared library exports exactly the
# functions declared NID_API in the public headers: EXPORTS is the list
# generated from them at build time (cmake/nid_exports.cmake, one name a
# line). A declared function missing from LIB fails, as does any other
# exported symbol (an undeclared nid_* function, libtorch, FFmpeg, DCMTK or
# C++ runtime symbols). Without EXPORTS only the nid_ prefix is checked.
# The SONAME must be libnoduleid.so.<major>. NM and READELF may name the
# tools (default nm, readelf).
set -eu
lib=$1
exports=${2:-}
nm=${NM:-nm}
readelf=${READELF:-readelf}
[ -n "$nm" ] || nm=nm
[ -n "$readelf" ] || readelf=readelf
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_symbols.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$nm" -D --defined-only "$lib" | awk '$2 ~ /^[A-Za-z]$/ {print $3}' | sed 's/@.*//' \
  | LC_ALL=C sort -u > "$tmp/exported"
count=$(wc -l < "$tmp/exported")
if [ -n "$exports" ]; then
  LC_ALL=C sort -u "$exports" > "$tmp/declared"
  missing=$(LC_ALL=C comm -13 "$tmp/exported" "$tmp/declared")
  extra=$(LC_ALL=C comm -23 "$tmp/exported" "$tmp/declared")
  if [ -n "$missing" ]; then
    echo "$lib: functions declared NID_API in include/ but not exported:" >&2
    echo "$missing" >&2
  fi
  if [ -n "$extra" ]; then
    echo "$lib: symbols exported but not declared NID_API in include/:" >&2
    echo "$extra" >&2
  fi
  [ -z "$missing$extra" ] || exit 1
else
  bad=$(grep -v '^nid_' "$tmp/exported" || true)
  if [ -n "$bad" ]; then
    echo "symbols exported outside the nid_ namespace:" >&2
    echo "$bad" >&2
    exit 1
  fi
fi
[ "$count" -gt 20 ] || { echo "only $count nid_ symbols exported" >&2; exit 1; }
soname=$("$readelf" -d "$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
case "$soname" in
  libnoduleid.so.[0-9]*) ;;
  *) echo "unexpected SONAME '$soname'" >&2; exit 1 ;;
esac
if [ -n "$exports" ]; then
  echo "exports: the $count functions declared NID_API, nothing else; SONAME $soname"
else
  echo "exports: $count nid_* symbols, nothing else; SONAME $soname"
fi
