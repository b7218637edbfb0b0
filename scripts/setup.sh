#!/usr/bin/env bash
# Installs every Debian 12 package yolonas needs to build, test and run. Idempotent; run as root
# (or with sudo available). Packages already present are left alone.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev          # tensors, autograd, model, checkpoint I/O (pulls python3-dev, glog, gflags, protobuf)
  libopenblas0          # LibTorch's 1x1 convs / ConvTranspose go through libblas.so.3: ~4x faster than netlib
  libopencv-dev         # image/video I/O, resizing, drawing
  libyaml-cpp-dev       # data.yaml, arch-params YAML
  nlohmann-json3-dev    # COCO json, metrics.json
  libdnnl-dev           # oneDNN deployment runtime
  libgtest-dev googletest
  zlib1g-dev            # CRC checks of checkpoint archives
  labelme-examples      # a real COCO json used by the evaluation tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
