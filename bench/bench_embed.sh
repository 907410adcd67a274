#!/bin/sh
# bench_embed.sh - model inference: the C path (bench_embed, libnoduleid's
# libtorch shim) against Python torch on the same package, same machine,
# same run, and the achieved GFLOP/s against the machine's measured
# float32 matmul peak (same thread count).
#
#   bench/bench_embed.sh [BUILD_DIR] [REPEATS] [ROUNDS]
#
# Packages (random weights, made once with training/noduleid_models/export.py
# and cached in ${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_embed}):
#   default  the default model's shape: compact, 3 x 8 x 128 x 64, 8 clips per call
#            (NID_BENCH_DEFAULT_MODEL=PATH times that package instead, e.g. the
#            trained runs/cm-default/model.nidm; its own input size is used)
#   compact  R(2+1)D compact (widths 16..128), 3 x 16 x 256 x 128, 4 clips per call
#   r18      R(2+1)D-18,                       3 x 16 x 256 x 128, 1 clip per call
# NID_BENCH_ARCHS (default "default compact r18") picks some of them.
# Configurations: C optimize=1 (the default: optimize_for_inference at
# load), C optimize=0 (the frozen module as stored), Python on the same
# module both ways, and the eager nn.Module. Each run is a fresh process
# timing REPEATS calls after a warm-up (median); runs alternate between C
# and Python for ROUNDS rounds (default 3) and the median of the rounds is
# reported, so that load from other processes hits both sides alike. The
# process CPU time per clip (all threads) is reported too: on a shared
# machine it is less disturbed by other processes than wall time.
# Ratio = Python time / C time: >= 1.0 means C is not slower.
# Peak: the faster of torch.mm (OpenBLAS) and oneDNN's matmul, 4096^3.
# Threads: ${NID_BENCH_THREADS:-2}.
# NID_BENCH_BF16=1 adds the C path in bf16 (the package's bf16 graph, issue
# 19; the package is given one where it has none: python3 -m training
# quantize --precision bf16 --random-clips, NAME-q.nidm in the bench dir:
# graphs.sh) to every round, with its ratio to the C fp32
# path and to the fastest Python fp32 configuration of the same run.
set -eu
BUILD=${1:-build}
REPEATS=${2:-5}
ROUNDS=${3:-3}
THREADS=${NID_BENCH_THREADS:-2}
DIR=${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_embed}
PY=/usr/bin/python3
top=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$BUILD/bench/bench_embed"
[ -x "$BENCH" ] || { echo "bench_embed.sh: $BENCH not built" >&2; exit 2; }
mkdir -p "$DIR"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

ARCHS=${NID_BENCH_ARCHS:-default compact r18}
# name -> "arch frames height width clips-per-call"
shape_of() {
  case $1 in
    default) echo "compact 8 128 64 8" ;;
    compact) echo "compact 16 256 128 4" ;;
    r18) echo "r18 16 256 128 1" ;;
    *) echo "bench_embed.sh: unknown configuration $1" >&2; exit 2 ;;
  esac
}
pkg_of() {
  if [ "$1" = default ] && [ -n "${NID_BENCH_DEFAULT_MODEL:-}" ]; then
    echo "$NID_BENCH_DEFAULT_MODEL"
  else
    echo "$DIR/$1.nidm"
  fi
}
for name in $ARCHS; do
  set -- $(shape_of "$name")
  pkg=$(pkg_of "$name")
  if [ ! -s "$pkg" ]; then
    (cd "$top" && $PY -m training.noduleid_models.export --arch "$1" \
       --random-init --bn-warmup 0 --frames "$2" --height "$3" --width "$4" \
       --out "$pkg" >/dev/null)
  fi
done

field() { sed -n "s/\(^\|.* \)$1=\([^ ]*\).*/\2/p"; }
. "$top/bench/graphs.sh"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

peak=$($PY "$top/bench/bench_embed.py" peak --threads "$THREADS" --repeats "$REPEATS")
echo "$peak"
gpeak=$(echo "$peak" | field gflops)

for arch in $ARCHS; do
  set -- $(shape_of "$arch")
  pkg=$(pkg_of "$arch")
  clips=$5
  shape=$($PY -c "import sys; sys.path.insert(0, '$top/bench'); import bench_embed as b; \
i = b.meta_of(sys.argv[1])[1]['input']; print('%dx%dx%dx%d' % (i['channels'], i['frames'], \
i['height'], i['width']))" "$pkg")
  flops=$($PY "$top/bench/bench_embed.py" flops "$pkg" | field flops)
  echo "== $arch ($(basename "$pkg")): $shape, $clips clip(s) per call, $THREADS threads," \
       "$(awk -v f="$flops" 'BEGIN { printf "%.1f GFLOP/clip", f / 1e9 }')," \
       "$ROUNDS rounds x $REPEATS calls"
  log="$DIR/$arch.log"
  : > "$log"
  cfgs="c1 p1 c0 p0 pe"
  if [ "${NID_BENCH_BF16:-0}" = 1 ]; then
    cfgs="$cfgs cb"
    bpkg=$(package_with "$pkg" "$DIR" 2 bf16) || exit 1
  fi
  r=0
  while [ $r -lt "$ROUNDS" ]; do
    for cfg in $cfgs; do
      case $cfg in
        cb) out=$("$BENCH" "$bpkg" --clips $clips --threads "$THREADS" --repeats "$REPEATS" --precision bf16) ;;
        c1) out=$("$BENCH" "$pkg" --clips $clips --threads "$THREADS" --repeats "$REPEATS" --optimize 1) ;;
        c0) out=$("$BENCH" "$pkg" --clips $clips --threads "$THREADS" --repeats "$REPEATS" --optimize 0) ;;
        p1) out=$($PY "$top/bench/bench_embed.py" embed "$pkg" --clips $clips \
                    --threads "$THREADS" --repeats "$REPEATS" --mode optimized) ;;
        p0) out=$($PY "$top/bench/bench_embed.py" embed "$pkg" --clips $clips \
                    --threads "$THREADS" --repeats "$REPEATS" --mode stored) ;;
        pe) out=$($PY "$top/bench/bench_embed.py" embed "$pkg" --clips $clips \
                    --threads "$THREADS" --repeats "$REPEATS" --mode eager) ;;
      esac
      echo "  $out"
      echo "$cfg $(echo "$out" | field per_clip_s) $(echo "$out" | field cpu_per_clip_s)" >> "$log"
    done
    r=$((r + 1))
  done
  m() { awk -v c="$1" '$1 == c { print $2 }' "$log" | median; }
  mc() { awk -v c="$1" '$1 == c { print $3 }' "$log" | median; }
  awk -v a="$(m c1)" -v b="$(m p1)" -v c="$(m c0)" -v d="$(m p0)" -v e="$(m pe)" \
      -v f="$flops" -v p="$gpeak" 'BEGIN {
    printf "  s/clip (median of rounds): C optimized %.4f | Python optimized %.4f |" \
           " C stored %.4f | Python stored %.4f | Python eager %.4f\n", a, b, c, d, e
    printf "  ratio Python/C: optimized %.3f, stored %.3f (>= 1: C not slower);" \
           " Python eager / C optimized %.2f\n", b / a, d / c, e / a
    printf "  C optimized: %.1f GFLOP/s = %.1f%% of the measured %.1f GFLOP/s matmul peak\n",
           f / a / 1e9, 100 * f / a / 1e9 / p, p
  }'
  if [ "${NID_BENCH_BF16:-0}" = 1 ]; then
    awk -v a="$(m c1)" -v b="$(m p1)" -v d="$(m p0)" -v e="$(m pe)" -v g="$(m cb)" 'BEGIN {
      best = b; if (d < best) best = d; if (e < best) best = e
      printf "  C bf16 (the package'"'"'s bf16 graph) %.4f s/clip: x%.2f vs C optimized fp32," \
             " x%.2f vs the fastest Python fp32 (%.4f)\n", g, a / g, best / g, best
    }'
  fi
  awk -v a="$(mc c1)" -v b="$(mc p1)" -v c="$(mc c0)" -v d="$(mc p0)" 'BEGIN {
    printf "  process CPU s/clip: C optimized %.4f | Python optimized %.4f | C stored %.4f |" \
           " Python stored %.4f; ratio Python/C: optimized %.3f, stored %.3f\n",
           a, b, c, d, b / a, d / c
  }'
done
