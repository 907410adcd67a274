#!/bin/sh
# relocate.sh BUILD_DIR WORK_DIR BUILD_CLI SOURCE_DIR - the installed tree
# can be moved: install into WORK_DIR/a, move it to WORK_DIR/moved/b, and
# run the moved bin/noduleid without LD_LIBRARY_PATH:
#   - its RUNPATH is $ORIGIN-relative and it loads the moved libnoduleid;
#   - `cluster` on examples/embeddings.npy gives the build tree's labels;
#   - `version` reports the backends of the build (modules found in the
#     moved <libdir>/noduleid-<major>);
#   - with torch and video: `group --json` on the sample exam with the
#     installed default model equals the build tree's result (timings
#     aside);
#   - with NODULEID_BACKEND_DIR at an empty directory, `group` fails with
#     exit 1 naming the missing module, and `cluster` still works.
set -eu
build=$1
work=$2
build_cli=$3
src=$4
py=/usr/bin/python3
rm -rf "$work"
mkdir -p "$work/moved" "$work/empty"
cmake --install "$build" --prefix "$work/a" >/dev/null
mv "$work/a" "$work/moved/b"
prefix="$work/moved/b"
cli="$prefix/bin/noduleid"
unset LD_LIBRARY_PATH NODULEID_MODEL NODULEID_BACKEND_DIR || true
fail() { echo "relocate: $*" >&2; exit 1; }

runpath=$(readelf -d "$cli" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
case "$runpath" in
  '$ORIGIN'*) ;;
  *) fail "bin/noduleid RUNPATH is '$runpath', expected \$ORIGIN/..." ;;
esac
# the dynamic loader resolves libnoduleid inside the moved tree
lib=$(ldd "$cli" | sed -n 's/.*libnoduleid\.so\.[0-9]* => \([^ ]*\).*/\1/p')
case "$lib" in
  "$prefix"/*) ;;
  *) fail "moved noduleid loads libnoduleid from '$lib'" ;;
esac
# the core library itself links no heavy backend
if ldd "$lib" | grep -E 'libtorch|libavcodec|libdcmdata' >/dev/null; then
  fail "libnoduleid links a backend library: $(ldd "$lib" | grep -E 'torch|avcodec|dcm')"
fi

emb="$src/examples/embeddings.npy"
"$cli" cluster "$emb" > "$work/cluster.moved.json"
"$build_cli" cluster "$emb" > "$work/cluster.build.json"
cmp "$work/cluster.moved.json" "$work/cluster.build.json" ||
  fail "cluster output of the moved tree differs from the build tree's"

"$cli" version --json > "$work/version.moved.json"
"$build_cli" version --json > "$work/version.build.json"
cmp "$work/version.moved.json" "$work/version.build.json" ||
  fail "features differ: moved $(cat "$work/version.moved.json"), build $(cat "$work/version.build.json")"

feat=$(cat "$work/version.moved.json")
case "$feat" in
  *'"torch"'*'"video"'*|*'"video"'*'"torch"'*) have_group=1 ;;
  *) have_group=0 ;;
esac
exam="$src/examples/sample-exam/P0001/P0001-E1.json"
if [ "$have_group" = 1 ] && [ -f "$prefix/share/noduleid/default.nidm" ]; then
  "$cli" group --quiet --threads 2 --json "$exam" > "$work/group.moved.json"
  "$build_cli" group --quiet --threads 2 --json \
    --model "$src/models/default.nidm" "$exam" > "$work/group.build.json"
  "$py" - "$work/group.moved.json" "$work/group.build.json" <<'PY'
import json, sys
def load(p):
    d = json.load(open(p))
    d.pop("timings")
    d["model"].pop("path")      # installed copy vs source tree file
    d["model"].pop("found_by")
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    sys.exit("relocate: group result of the moved tree differs from the build tree's")
print("group: %d nodules, same as the build tree" % len(a["nodules"]))
PY
  set +e
  NODULEID_BACKEND_DIR="$work/empty" "$cli" group --quiet "$exam" \
    > "$work/group.empty.out" 2> "$work/group.empty.err"
  rc=$?
  set -e
  [ "$rc" = 1 ] || fail "group without modules: exit $rc, expected 1"
  grep -q 'libnoduleid-\(torch\|ffmpeg\)\.so' "$work/group.empty.err" ||
    fail "group without modules does not name the module: $(cat "$work/group.empty.err")"
  grep -q NODULEID_BACKEND_DIR "$work/group.empty.err" ||
    fail "group without modules does not name NODULEID_BACKEND_DIR"
  echo "group without modules: $(head -n1 "$work/group.empty.err")"
fi
NODULEID_BACKEND_DIR="$work/empty" "$cli" cluster "$emb" > "$work/cluster.empty.json"
cmp "$work/cluster.empty.json" "$work/cluster.build.json" ||
  fail "cluster without modules differs"
echo "relocated install: RUNPATH $runpath, cluster, version${have_group:+ and group} work from $prefix"
