#!/bin/sh
# check_no_build_paths.sh SOURCE_DIR BINARY_DIR FILE... - the read-only data
# of each built file (the library, the CLI: what gets installed) holds
# neither the source nor the build directory, so an installed copy finds
# its files at run time, relative to itself. Debug info is not checked.
set -eu
src=$1
bin=$2
shift 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nid_paths.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
for f in "$@"; do
  objcopy -O binary --only-section=.rodata "$f" "$tmp/ro"
  for d in "$src" "$bin"; do
    if grep -a -F -q "$d" "$tmp/ro"; then
      echo "$f: .rodata holds the path $d:"
      grep -a -o -F "$d" "$tmp/ro" | head -n 3
      fail=1
    fi
  done
done
[ $fail -eq 0 ] && echo "no build-tree paths in $# file(s)"
exit $fail
