#!/bin/sh
# ctest python_install_readme: the Python install commands of README.md and
# bindings/python/README.md (the sh block after "<!-- python-install") must
# be identical, and run verbatim, from a copy of the files a clean clone has
# (git's tracked and not-ignored files; pip's build files stay out of the
# source tree), against the library
# that the fixture python_binding_build installed into PREFIX.
# usage: install_readme.sh SOURCE_DIR WORK_DIR PREFIX
set -eu
src=$1 work=$2 prefix=$3
block() {
    awk '/<!-- python-install/ {f=1; next} f && /^```sh/ {g=1; next} g && /^```/ {exit} g {print}' "$1"
}
top=$(block "$src/README.md")
sub=$(block "$src/bindings/python/README.md")
[ -n "$top" ] || { echo "FAIL: no python-install block in README.md"; exit 1; }
[ "$top" = "$sub" ] || { echo "FAIL: the install blocks of README.md and bindings/python/README.md differ"; exit 1; }
rm -rf "$work"
mkdir -p "$work/bindings/python"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # what a clean clone has: tracked and not-ignored files, no build output
    (cd "$src" && git ls-files -co --exclude-standard -- README.md LICENSE bindings/python) |
        while IFS= read -r f; do
            [ -e "$src/$f" ] || continue
            mkdir -p "$work/$(dirname "$f")"
            cp -p "$src/$f" "$work/$f"
        done
else
    cp -R "$src/bindings/python/setup.py" "$src/bindings/python/pyproject.toml" "$src/bindings/python/gen_cdef.py" \
          "$src/bindings/python/noduleid" "$work/bindings/python/"
    rm -rf "$work/bindings/python/noduleid/__pycache__" "$work/bindings/python/noduleid"/_noduleid.*
fi
[ -f "$work/bindings/python/setup.py" ] || { echo "FAIL: bindings/python/setup.py not copied"; exit 1; }
pcdir=$(find "$prefix" -name noduleid.pc -path '*pkgconfig*' -exec dirname {} \; | head -n1)
# python3 is Debian's (/usr/bin first: a pyenv shim on PATH has no numpy)
PATH=/usr/bin:$PATH
export PATH PKG_CONFIG_PATH="$pcdir" PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
       PIP_NO_CACHE_DIR=1
cd "$work"
echo "$top"
out=$(sh -eux -c "$top" 2>&1) || { echo "$out"; echo "FAIL: the README's install commands failed"; exit 1; }
echo "$out"
want=$(sed -n 's/^#define NID_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$src/include/noduleid/core.h" | paste -sd.)
echo "$out" | tail -n1 | grep -qx "$want" || { echo "FAIL: import printed no version $want"; exit 1; }
.venv/bin/python -c "import noduleid, sys; assert noduleid.__file__.startswith('$work/.venv'), noduleid.__file__"
echo "OK: README install commands work (noduleid $want in a venv)"
