#!/bin/sh
# install-deps.sh - install the Debian 12 packages libnoduleid needs to build,
# test and run. Idempotent: installs only what is missing; needs root (or
# sudo) only when something is missing. Every package the project uses is
# listed here, so a new machine needs nothing else.
set -eu

PACKAGES="
  build-essential cmake pkg-config
  check
  libjansson-dev
  libopenblas-openmp-dev libopenblas0-openmp
  python3 python3-numpy python3-scipy python3-sklearn python3-pytest
  python3-mpmath
  python3-cffi python3-dev python3-setuptools python3-pip python3-wheel python3-venv
  python3-pycparser
  clang libclang-rt-14-dev
  libpng-dev python3-torch python3-opencv ffmpeg
  zlib1g-dev libsqlite3-dev
  python3-distributed python3-dask
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  libdcmtk-dev dcmtk python3-pydicom python3-pil
  libtorch-dev python3-torchvision
  python3-matplotlib
  python3-av
  chromium groff-base
  default-jdk-headless junit5
  orthanc orthanc-dev
  maven libmaven-compiler-plugin-java libmaven-jar-plugin-java libmaven-install-plugin-java
  libmaven-resources-plugin-java libsurefire-java unzip
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  exit 0
fi

echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
