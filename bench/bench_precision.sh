#!/bin/sh
# bench_precision.sh - nid_model_options.precision (issue 19): the C path in
# bf16 or int8, and batched, against the fp32 C path (optimize=1, the
# default) measured in the same run, runs interleaved (fp32, bf16, fp32,
# bf16, ...), medians.
#
#   bench/bench_precision.sh [BUILD_DIR] [REPEATS] [ROUNDS]
#
# Packages as bench_embed.sh (random weights, cached in
# ${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_embed}; NID_BENCH_ARCHS, default
# "default r18"; NID_BENCH_DEFAULT_MODEL=PATH times that package as
# "default", e.g. models/default.nidm). Threads: ${NID_BENCH_THREADS:-2}.
# Variants: NID_BENCH_VARIANTS, a list of PRECISION:CLIPS (clips per call;
# "-" the configuration's default), default "fp32:- bf16:-"; the first is
# the baseline of the ratios (baseline time / variant time: > 1 faster).
# E.g. "fp32:1 fp32:14 int8:1 int8:14": one clip per pass (the exam-level
# calls before they batched tracklets) against 14 (the default model's exam
# batch, nid_model_options.max_batch), in fp32 and int8.
# bf16 runs only where the CPU has AVX-512 BF16 or AMX-BF16; elsewhere the
# library falls back to fp32 (the "precision=" field says which ran), and
# NID_BF16_FORCE=1 times emulated bf16 instead (slower than fp32: the
# reason for the fallback). int8 and bf16 run the package's int8 and bf16
# graphs: a package without them is given them (python3 -m training
# quantize [--precision bf16] --random-clips, written next to it as
# NAME-q.nidm in the bench dir; random clips: for speed only). "auto" is
# NID_PRECISION_AUTO.
set -eu
BUILD=${1:-build}
REPEATS=${2:-5}
ROUNDS=${3:-3}
THREADS=${NID_BENCH_THREADS:-2}
DIR=${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_embed}
PY=/usr/bin/python3
top=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$BUILD/bench/bench_embed"
[ -x "$BENCH" ] || { echo "bench_precision.sh: $BENCH not built" >&2; exit 2; }
mkdir -p "$DIR"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ARCHS=${NID_BENCH_ARCHS:-default r18}
shape_of() {
  case $1 in
    default) echo "compact 8 128 64 8" ;;
    compact) echo "compact 16 256 128 4" ;;
    r18) echo "r18 16 256 128 1" ;;
    *) echo "bench_precision.sh: unknown configuration $1" >&2; exit 2 ;;
  esac
}
pkg_of() {
  if [ "$1" = default ] && [ -n "${NID_BENCH_DEFAULT_MODEL:-}" ]; then
    echo "$NID_BENCH_DEFAULT_MODEL"
  else
    echo "$DIR/$1.nidm"
  fi
}
field() { sed -n "s/\(^\|.* \)$1=\([^ ]*\).*/\2/p"; }
. "$top/bench/graphs.sh"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1);" \
     "bf16 flags: $(grep -o -w 'avx512_bf16\|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')" \
     "NID_BF16_FORCE=${NID_BF16_FORCE:-unset}; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in $ARCHS; do
  set -- $(shape_of "$name")
  pkg=$(pkg_of "$name")
  if [ ! -s "$pkg" ]; then
    (cd "$top" && $PY -m training.noduleid_models.export --arch "$1" \
       --random-init --bn-warmup 0 --frames "$2" --height "$3" --width "$4" \
       --out "$pkg" >/dev/null)
  fi
  clips=$5
  VARIANTS=${NID_BENCH_VARIANTS:-fp32:- bf16:-}
  # int8 and bf16 run the package's own graphs (graphs.sh)
  need=""
  case " $VARIANTS" in *" int8:"*) need="$need int8" ;; esac
  case " $VARIANTS" in *" bf16:"*|*" auto:"*) need="$need bf16" ;; esac
  n=8; [ "$1" = r18 ] && n=2
  # shellcheck disable=SC2086
  pkg=$(package_with "$pkg" "$DIR" $n $need) || exit 1
  echo "== $name ($(basename "$pkg")): variants $VARIANTS (precision:clips per call), $THREADS threads, $ROUNDS rounds x $REPEATS calls"
  log="$DIR/precision-$name.log"
  : > "$log"
  r=0
  while [ $r -lt "$ROUNDS" ]; do
    for v in $VARIANTS; do
      p=${v%%:*}; c=${v#*:}; [ "$c" = - ] && c=$clips
      out=$("$BENCH" "$pkg" --clips "$c" --threads "$THREADS" --repeats "$REPEATS" --precision "$p")
      echo "  $out"
      echo "$v $(echo "$out" | field per_clip_s) $(echo "$out" | field cpu_per_clip_s)" >> "$log"
    done
    r=$((r + 1))
  done
  m() { awk -v c="$1" '$1 == c { print $2 }' "$log" | median; }
  base=${VARIANTS%% *}
  b=$(m "$base")
  line="  s/clip (median of rounds):"
  for v in $VARIANTS; do
    line="$line $(awk -v n="$v" -v a="$(m "$v")" -v b="$b" 'BEGIN { printf "%s %.4f (x%.2f)", n, a, b / a }') |"
  done
  echo "${line% |}; ratios: $base time / variant time"
done
