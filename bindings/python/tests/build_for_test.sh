#!/bin/sh
# build_for_test.sh BUILD_DIR WORK_DIR [PYTHON] - ctest fixture of the
# Python binding: install the library of BUILD_DIR into WORK_DIR/prefix,
# then pip-install the binding (offline, with Debian's setuptools and cffi)
# into WORK_DIR/site, compiled against that prefix through pkg-config.
set -eu
build=$1
work=$2
py=${3:-/usr/bin/python3}
src=$(cd "$(dirname "$0")/.." && pwd)

rm -rf "$work"
mkdir -p "$work/src"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
pcdir=$(find "$work/prefix" -name noduleid.pc -path '*pkgconfig*' -exec dirname {} \; | head -n1)
[ -n "$pcdir" ] || { echo "build_for_test: noduleid.pc was not installed" >&2; exit 1; }

# pip builds in the source directory (build/, *.egg-info): build from a
# copy so the repository stays clean and parallel builds do not collide.
cp -R "$src/setup.py" "$src/pyproject.toml" "$src/gen_cdef.py" "$src/noduleid" \
      "$work/src/"
rm -rf "$work/src/noduleid/__pycache__" "$work/src/noduleid"/_noduleid.*

PKG_CONFIG_PATH="$pcdir" PIP_ROOT_USER_ACTION=ignore \
  "$py" -m pip install --no-build-isolation --no-index --no-deps \
    --no-cache-dir --disable-pip-version-check -q \
    --target "$work/site" "$work/src"
ls "$work/site/noduleid/"_noduleid*.so >/dev/null
echo "python binding built into $work/site against $pcdir"
