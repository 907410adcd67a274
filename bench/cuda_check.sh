#!/bin/bash
# cuda_check.sh OUTDIR [CARRY_DIR] - build libnoduleid against a CUDA-enabled
# libtorch (pip's torch, found through torch.utils.cmake_prefix_path) with
# NID_WITH_CUDA=ON and check the model API on the GPU: tests/cuda_smoke.c
# (CPU vs cuda:0 embeddings and verify, device errors, timing) and
# bench/bench_embed (C) against bench_embed.py (Python torch) on cuda:0.
#
# For a machine without Debian's dev packages: CARRY_DIR (default .cuda)
# may hold Debian .deb files of jansson (libjansson4, libjansson-dev) and
# pkgconf, unpacked into $T/nid-root when the machine lacks them, and
# packages made on the development machine (cm.nidm, vm.nidm: compact at
# 4x32x16; compact16.nidm: compact at 16x256x128). The R(2+1)D-18 package
# is exported here. Everything is logged to OUTDIR/log.txt.
set -u
T=${TMPDIR:-/tmp}
OUT=${1:?usage: cuda_check.sh OUTDIR [CARRY_DIR]}
CARRY=${2:-.cuda}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
T0=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - T0 ))s)"; }
PY=${PYTHON:-python3}
B=$T/nid-cuda-build
CUDA=${NID_CUDA:-ON}     # OFF: a dry run of this script on a CPU machine
QUICK=${NID_CUDA_QUICK:-0} # 1: build, then only the C vs Python timings
DEV=${NID_DEVICE:-cuda:0}
set -o pipefail

step "machine"
nvidia-smi -L || true
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
for t in cmake ninja gcc cc pkg-config nvcc; do printf '%s: %s\n' "$t" "$(command -v $t || echo missing)"; done

step "dependencies"
R=$T/nid-root
export PKG_CONFIG_PATH=${PKG_CONFIG_PATH:-}
PKGCFG=()
if ! pkg-config --exists jansson 2>/dev/null || ! command -v pkg-config >/dev/null; then
  for d in "$CARRY"/*.deb; do dpkg -x "$d" "$R"; done
  pc="$R/usr/lib/x86_64-linux-gnu/pkgconfig/jansson.pc"
  sed -i "s|^prefix=.*|prefix=$R/usr|" "$pc"
  export PKG_CONFIG_PATH="$R/usr/lib/x86_64-linux-gnu/pkgconfig:$PKG_CONFIG_PATH"
  export LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  if ! command -v pkg-config >/dev/null; then
    PKGCFG=(-DPKG_CONFIG_EXECUTABLE="$R/usr/bin/pkgconf")
  fi
  echo "jansson from $CARRY (prefix $R)"
fi

step "configure (NID_WITH_CUDA=$CUDA)"
TP=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
CUDAX=()
if command -v nvcc >/dev/null; then
  CUDAX=(-DCUDAToolkit_ROOT="$(dirname "$(dirname "$(command -v nvcc)")")"
         -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0)
fi
configure() {
  cmake -S . -B "$B" "${GEN[@]}" "${PKGCFG[@]}" "${CUDAX[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$TP" -DNID_WITH_CUDA=$1 -DNID_WITH_BLAS=OFF \
    -DNID_WITH_VIDEO=OFF -DNID_WITH_DICOM=OFF -DNID_BUILD_TESTS=OFF \
    -DNID_BUILD_TOOLS=OFF -DNID_BUILD_BENCH=OFF -DNID_BUILD_JAVA=OFF \
    -DNID_BUILD_PYTHON=OFF 2>&1 | grep -v "^-- Looking\|^-- Performing\|^-- Check\|^-- Detecting"
}
if ! configure "$CUDA"; then
  echo "configure with NID_WITH_CUDA=$CUDA failed; CPU-only against this libtorch instead"
  rm -rf "$B"
  configure OFF || { echo "configure failed"; exit 1; }
fi
step "build"
cmake --build "$B" -j"$(nproc)" 2>&1 | tail -20
[ -f "$B/lib/libnoduleid.so" ] || { echo "build failed"; exit 1; }
nm -D --defined-only "$B/lib/libnoduleid.so" | awk '$3 !~ /^nid_/ {n++} END {print "non-nid exported symbols:", n + 0}'
cc -O2 -Iinclude tests/cuda_smoke.c -L"$B/lib" -lnoduleid -Wl,-rpath,"$B/lib" -lm -o $T/cuda_smoke
cc -O2 -Iinclude bench/bench_embed.c -L"$B/lib" -lnoduleid -Wl,-rpath,"$B/lib" -o $T/bench_embed

step "packages"
P=$T/nid-pkgs; mkdir -p $P
cp "$CARRY"/*.nidm $P/ 2>/dev/null
$PY -m training.noduleid_models.export --arch r18 --random-init --bn-warmup 0 \
  --frames 16 --height 256 --width 128 --out $P/r18.nidm || echo "r18 export failed"
[ "$QUICK" = 1 ] || $PY -m training.noduleid_models.export --arch compact --kind vm \
  --random-init --frames 4 --height 32 --width 16 --out $P/vm_here.nidm || echo "vm export failed"
ls -la $P

if [ "$QUICK" != 1 ]; then
  step "smoke + timing: R(2+1)D-18 16x256x128, 8 clips"
  [ -f $P/r18.nidm ] && timeout 120 $T/cuda_smoke $P/r18.nidm 8 5 $DEV
fi

step "bench: C vs Python on $DEV, R(2+1)D-18 (same package, same clip count)"
if [ -f $P/r18.nidm ]; then
  for n in 8 1; do
    timeout 60 $T/bench_embed $P/r18.nidm --device $DEV --clips $n --repeats 10
    timeout 60 $PY bench/bench_embed.py embed $P/r18.nidm --device $DEV --clips $n --repeats 10
  done
fi

step "smoke: VMs made by torch 1.13 (Debian) and by this torch"
for p in vm vm_here; do
  [ -f $P/$p.nidm ] && timeout 60 $T/cuda_smoke $P/$p.nidm 8 5 $DEV
done

step "bench: compact 16x256x128, 8 clips"
if [ -f $P/compact16.nidm ]; then
  timeout 60 $T/bench_embed $P/compact16.nidm --device $DEV --clips 8 --repeats 10
  timeout 60 $PY bench/bench_embed.py embed $P/compact16.nidm --device $DEV --clips 8 --repeats 10
fi
step "precision on $DEV: fp32, fp16 and bf16 autocast; cosine to CPU fp32; peak memory (issue 19)"
# default model (models/default.nidm) and R(2+1)D-18; figures for results/bench/
timeout 300 $PY bench/cuda_precision.py models/default.nidm $P/r18.nidm \
  --device $DEV --clips 8 --repeats 10 | tee "$OUT/cuda-precision.txt" || true
step "done"
