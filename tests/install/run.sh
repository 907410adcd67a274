#!/bin/sh
# run.sh BUILD_DIR WORK_DIR - install the built library into a scratch
# prefix and build programs against it the ways users do:
#   1. cc with `pkg-config --cflags --libs noduleid` (C99, -Werror);
#   2. c++ with pkg-config (C++11, -Werror);
#   3. a CMake project with find_package(noduleid).
set -eu
build=$1
work=$2
src=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

libdir=$(find "$prefix" -name 'noduleid.pc' -path '*pkgconfig*' -exec dirname {} \; | head -n1)
[ -n "$libdir" ] || { echo "noduleid.pc was not installed" >&2; exit 1; }
export PKG_CONFIG_PATH="$libdir"
libpath=$(dirname "$libdir")
# The SONAME link and versioned file must be installed.
ls "$libpath"/libnoduleid.so.0 >/dev/null

# Every public header is installed: the umbrella and the module headers.
top=$(cd "$src/../.." && pwd)
incdir=$(pkg-config --variable=includedir noduleid)
for h in "$top"/include/noduleid.h "$top"/include/noduleid/*.h; do
  rel=${h#"$top"/include/}
  cmp "$h" "$incdir/$rel" || { echo "installed $rel differs or is missing" >&2; exit 1; }
done
[ "$(ls "$incdir"/noduleid | wc -l)" -eq "$(ls "$top"/include/noduleid | wc -l)" ] \
  || { echo "$incdir/noduleid holds other files than include/noduleid" >&2; exit 1; }
# A module header alone is enough for a program that uses only that module.
printf '#include <noduleid/cluster.h>\nint main(void) { return nid_cluster_method_parse("single", &(int){0}); }\n' \
  > "$work/module_only.c"
cc -std=c99 -pedantic -Wall -Wextra -Werror "$work/module_only.c" -o "$work/module_only" \
   $(pkg-config --cflags --libs noduleid)
LD_LIBRARY_PATH="$libpath" "$work/module_only"

cc -std=c99 -pedantic -Wall -Wextra -Werror "$src/consumer.c" -o "$work/consumer_c" \
   $(pkg-config --cflags --libs noduleid)
LD_LIBRARY_PATH="$libpath" "$work/consumer_c"

c++ -std=c++11 -pedantic -Wall -Wextra -Werror "$src/consumer.cpp" -o "$work/consumer_cxx" \
   $(pkg-config --cflags --libs noduleid)
LD_LIBRARY_PATH="$libpath" "$work/consumer_cxx"

# Static-style link line resolves with Libs.private (checks the .pc file).
pkg-config --libs --static noduleid >/dev/null

cmake -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$libpath" "$work/cmake-build/consumer_c"
LD_LIBRARY_PATH="$libpath" "$work/cmake-build/consumer_cxx"
echo "install test: every header installed; pkg-config C (umbrella and one module header), C++ and find_package consumers all work"
