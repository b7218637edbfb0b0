#!/usr/bin/env bash
# Installs the Debian 12 (or 13) packages yolonas needs. Idempotent: packages already present are left alone.
# Run as root (or with sudo available).
#   bash scripts/setup.sh           build + test + demo packages (sample photos and video included)
#   bash scripts/setup.sh --synth   also the cut-outs and backgrounds of `yolonas synth` (~320 MB)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  python3               # scripts/check_layout.py (the include rules, run by the tests)
  libtorch-dev          # tensors, autograd, model, checkpoint I/O (pulls python3-dev, glog, gflags, protobuf)
  libgloo-dev           # headers of c10d's Gloo process group (multi-process training)
  libopenblas0          # LibTorch's 1x1 convs / ConvTranspose go through libblas.so.3: ~4x faster than netlib
  libopencv-dev         # image/video I/O, resizing, drawing
  libyaml-cpp-dev       # data.yaml, arch-params YAML
  nlohmann-json3-dev    # COCO json, metrics.json
  libdnnl-dev           # oneDNN (deployment runtime)
  ocl-icd-opencl-dev    # dnnl-config.cmake does find_package(OpenCL); libdnnl-dev only recommends it
  zlib1g-dev            # CRC checks of checkpoint archives
  libcpp-httplib-dev    # yolonas serve (HTTP server)
  pybind11-dev python3-dev python3-numpy python3-pytest  # the Python module and its pytest suite
  chromium              # the web page's browser test (headless, driven by npm playwright-core)
  libgtest-dev googletest
  clang libclang-rt-dev # libFuzzer + sanitizers (the default clang's): the fuzz harnesses (fuzz/), run over their corpora by test.sh
  darknet               # sample photos: /usr/share/darknet/data/{dog,person,horses,giraffe,kite,eagle}.jpg
  opencv-doc            # sample video: /usr/share/doc/opencv-doc/examples/data/vtest.avi
)
# labelme-examples (a real COCO json for the evaluation tests; VOC photos for the default model's
# evaluation) is in Debian 12, not in 13: there, the tests that read it skip and say so.
. /etc/os-release 2>/dev/null || true
case "${VERSION_CODENAME:-}" in
  trixie|forky|sid) ;;
  *) PACKAGES+=(labelme-examples) ;;
esac
SYNTH_PACKAGES=(
  tuxpaint-stamps-default      # photo-like RGBA cut-outs (required by yolonas synth)
  mate-backgrounds             # background photos
  lomiri-wallpapers-16.04      # background photos
  plasma-workspace-wallpapers  # background photos (optional, more variety)
)
if [ "${1:-}" = "--synth" ]; then PACKAGES+=("${SYNTH_PACKAGES[@]}"); fi

# ONNX Runtime for the ONNX checks of the test suite (npm onnxruntime-node, its prebuilt CPU library;
# --ignore-scripts: nothing is downloaded at install time). Only where node and npm are installed:
# elsewhere those tests skip with a message. yolonas itself never needs node.
install_ort() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/third_party/ort"
  if [ -d "$dir/node_modules/onnxruntime-node" ]; then return 0; fi
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "setup: note: node/npm not installed: the ONNX Runtime checks will skip (apt-get install nodejs npm to run them)"
    return 0
  fi
  mkdir -p "$dir"
  if npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error onnxruntime-node@1.31.1 >/dev/null 2>&1 ||
     npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error onnxruntime-node@1 >/dev/null 2>&1; then
    echo "setup: ONNX Runtime (npm onnxruntime-node) in third_party/ort"
  else
    echo "setup: warning: npm could not install onnxruntime-node: the ONNX Runtime checks will skip"
  fi
}

# playwright-core (npm) drives Debian's chromium in the web page's browser test; without node the test
# skips with a message.
install_playwright() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/third_party/web"
  if [ -d "$dir/node_modules/playwright-core" ]; then return 0; fi
  if ! command -v npm >/dev/null 2>&1; then return 0; fi
  mkdir -p "$dir"
  # playwright-core 1.65 needs node >= 20; Debian 12's own node is 18, which 1.49 supports.
  local version=1.65.2
  if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then version=1.49.1; fi
  if npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error "playwright-core@$version" >/dev/null 2>&1 ||
     npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error playwright-core@1 >/dev/null 2>&1; then
    echo "setup: playwright-core (npm) in third_party/web"
  else
    echo "setup: warning: npm could not install playwright-core: the browser test will skip"
  fi
}

# node and npm run the ONNX Runtime checks and the browser test (never yolonas itself): Debian's own
# when none is installed (a newer node from elsewhere is kept).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  install_ort
  install_playwright
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
# Some minimal images exclude /usr/share/doc; the sample video lives there.
if [ -f /etc/dpkg/dpkg.cfg.d/excludes ] && grep -q "usr/share/doc" /etc/dpkg/dpkg.cfg.d/excludes; then
  echo "setup: note: this system excludes /usr/share/doc, so opencv-doc's sample video will be missing"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_ort
install_playwright
echo "setup: done"
