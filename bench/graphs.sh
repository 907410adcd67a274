# graphs.sh - sourced by bench_precision.sh and bench_embed.sh (issue 19):
# a package with the reduced-precision graphs a benchmark runs.
#
#   pkg=$(package_with PKG DIR CLIPS GRAPH...) || exit 1
#
# Prints PKG when it has every GRAPH (int8, bf16), else DIR/NAME-q.nidm:
# PKG (or an earlier NAME-q.nidm) plus the missing graphs, each added by
# python3 -m training quantize --precision GRAPH --random-clips CLIPS
# (random clips: for speed only). Needs $PY, $top and $THREADS.

# Exit status 0 when package $2 holds graph $1 (extra/noduleid-$1.pt).
has_graph() {
  $PY -c "import sys, zipfile; sys.exit(not any(n.endswith('extra/noduleid-%s.pt' % sys.argv[1])
          for n in zipfile.ZipFile(sys.argv[2]).namelist()))" "$1" "$2"
}

package_with() {
  pw_pkg=$1
  pw_q="$2/$(basename "$1" .nidm)-q.nidm"
  pw_n=$3
  shift 3
  [ -s "$pw_q" ] && pw_pkg=$pw_q
  for pw_g in "$@"; do
    if ! has_graph "$pw_g" "$pw_pkg"; then
      (cd "$top" && $PY -m training quantize --package "$pw_pkg" --precision "$pw_g" \
         --random-clips "$pw_n" --out "$pw_q.tmp" --threads "$THREADS" >/dev/null 2>&1 &&
         mv "$pw_q.tmp" "$pw_q") ||
        { echo "$(basename "$0"): quantize --precision $pw_g $pw_pkg failed" >&2; return 1; }
      pw_pkg=$pw_q
    fi
  done
  echo "$pw_pkg"
}
